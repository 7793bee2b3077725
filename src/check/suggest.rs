//! "Did you mean ...?" for misspelled names.

/// Edit distance (Levenshtein) between two short strings.
fn distance(a: &str, b: &str) -> usize {
    let a: Vec<char> = a.chars().collect();
    let b: Vec<char> = b.chars().collect();
    let mut prev: Vec<usize> = (0..=b.len()).collect();
    let mut cur = vec![0; b.len() + 1];
    for i in 1..=a.len() {
        cur[0] = i;
        for j in 1..=b.len() {
            let cost = usize::from(!a[i - 1].eq_ignore_ascii_case(&b[j - 1]));
            cur[j] = (prev[j] + 1).min(cur[j - 1] + 1).min(prev[j - 1] + cost);
        }
        std::mem::swap(&mut prev, &mut cur);
    }
    prev[b.len()]
}

/// The closest candidate within a third of the name's length (at least 1 edit).
pub fn closest<'c>(name: &str, candidates: impl IntoIterator<Item = &'c str>) -> Option<&'c str> {
    let limit = (name.chars().count() / 3).max(1);
    candidates
        .into_iter()
        .filter(|c| *c != name)
        .map(|c| (distance(name, c), c))
        .filter(|(d, _)| *d <= limit)
        .min_by(|a, b| a.0.cmp(&b.0).then(a.1.cmp(b.1)))
        .map(|(_, c)| c)
}

/// The replacement text for "did you mean `t.T`?": the operand with `.T`,
/// parenthesized unless it is a name or a member path (`(x @ W).T`).
pub fn transposed(t: &str) -> String {
    if t.chars()
        .all(|c| c.is_alphanumeric() || c == '_' || c == '.')
    {
        format!("{t}.T")
    } else {
        format!("({t}).T")
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn finds_close_spellings() {
        assert_eq!(
            super::closest("sofmax", ["softmax", "sum"]),
            Some("softmax")
        );
        assert_eq!(super::closest("W", ["w", "x"]), Some("w"));
        assert_eq!(super::closest("zzzz", ["softmax"]), None);
    }
}
