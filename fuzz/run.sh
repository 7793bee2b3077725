#!/usr/bin/env bash
# Runs every fuzz target for SECONDS each, one at a time, and appends each
# target's final libFuzzer statistics and CPU seconds to fuzz/campaign.log.
#
#   fuzz/run.sh 600            # ten minutes per target
#   fuzz/run.sh 60 check data  # only these targets
#
# Needs the nightly toolchain and cargo-fuzz (`cargo install cargo-fuzz`).
# New corpus entries go to fuzz/corpus/TARGET (not committed); the committed
# seeds are in fuzz/seeds/TARGET; crashes land in fuzz/artifacts/TARGET.
set -euo pipefail
cd "$(dirname "$0")"
seconds="${1:?usage: fuzz/run.sh SECONDS [TARGET...]}"
shift
targets=("$@")
if [ ${#targets[@]} -eq 0 ]; then
    targets=(check data lsp shapes)
fi
# Built once; the binaries then run directly (a source edit during the
# campaign does not rebuild them mid-way).
cargo +nightly fuzz build -O >/dev/null
bin="target/x86_64-unknown-linux-gnu/release"
for t in "${targets[@]}"; do
    mkdir -p "corpus/$t"
    log="logs/$t.log"
    mkdir -p logs
    echo "== $t: ${seconds}s ($(date -u +%FT%TZ))"
    status=0
    mkdir -p "artifacts/$t"
    # CPU seconds (user + system), which is what the campaign is counted in:
    # on a shared machine the wall time says little.
    TIMEFORMAT='%U %S'
    { time "$bin/$t" "corpus/$t" "seeds/$t" \
        -artifact_prefix="artifacts/$t/" -max_total_time="$seconds" \
        -rss_limit_mb=2048 -max_len=65536 -timeout=20 -print_final_stats=1 \
        >"$log" 2>&1 || status=$?; } 2>"logs/$t.time"
    cpu=$(awk '{printf "%.0f", $1 + $2}' "logs/$t.time")
    runs=$(grep -o 'stat::number_of_executed_units: *[0-9]*' "$log" | grep -o '[0-9]*$' || echo '?')
    cov=$(grep -o 'cov: [0-9]*' "$log" | tail -1 | grep -o '[0-9]*' || echo '?')
    ft=$(grep -o 'ft: [0-9]*' "$log" | tail -1 | grep -o '[0-9]*' || echo '?')
    corpus=$(ls "corpus/$t" | wc -l)
    line="$(date -u +%FT%TZ) $t seconds=$seconds cpu_seconds=$cpu runs=$runs cov=$cov ft=$ft corpus=$corpus exit=$status"
    echo "$line" | tee -a campaign.log
    if [ "$status" -ne 0 ]; then
        echo "   finding: see $log and artifacts/$t/" | tee -a campaign.log
    fi
done
