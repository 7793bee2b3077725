//! Go to definition: tensors, dimensions, layers, instances, and instance
//! parameters (`fc1` in `fc1.W` goes to the instance, `W` to the `param` in the
//! layer body).

use super::analysis::Analysis;
use lsp_types::{Location, Position, Uri};

pub fn definition(a: &Analysis, uri: &Uri, pos: Position) -> Option<Location> {
    let offset = a.offset(pos);
    let found = a.symbol_at(offset).or_else(|| {
        // The cursor just after a name (`x|`) still means the name.
        let prev = offset.checked_sub(1)?;
        let ch = a.text.get(prev..offset)?;
        ch.chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '_')
            .then(|| a.symbol_at(prev))
            .flatten()
    });
    let (_, sym) = found?;
    Some(Location::new(uri.clone(), a.range(sym.span)))
}
