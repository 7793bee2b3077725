//! Symbolic dimensions and their canonical polynomial form.
//!
//! Dimensions compare by name: `D` and `M` are different symbols even when both
//! default to 4096, and a literal never equals a named dimension. Dimension
//! expressions (`H * W`, `T + 1`) are kept as polynomials with integer
//! coefficients in a canonical order, so `H * W` equals `W * H`.
//!
//! Floor division (`(H - 1) / 2 + 1`, a convolution's output size) has one
//! implementation, [`Poly::floor_div`]: what the divisor divides comes out and
//! the rest is an opaque quotient with a canonical numerator, so the same
//! number written two ways is one polynomial. A derived dimension
//! (`dim Ho = (H - 1) / 2 + 1`) is a name for such a polynomial: shapes hold
//! the polynomial, display shows the name.

use crate::diagnostics::Span;

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct DimId(pub u32);

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum DimKind {
    /// Declared with `dim`; bound at run time, maybe with a default.
    Global { default: Option<i64> },
    /// A layer's dimension parameter (`I` in `layer Dense[I, O]`).
    LayerParam,
    /// A dimension in a layer signature inferred per call (`B`).
    Generic,
    /// `dim Ho = (H - 1) / 2 + 1`: a name for an expression of other
    /// dimensions. Shapes never hold the symbol: a use is replaced by the
    /// definition (so `Ho` equals whatever computes the same expression, such as
    /// a convolution's output size), and display puts the name back. `None`
    /// when the definition has an error (uses are then poisoned).
    Derived { def: Option<Poly> },
}

#[derive(Clone, Debug)]
pub struct DimInfo {
    pub name: String,
    pub kind: DimKind,
    /// Where it is declared (first mention for generic dimensions).
    pub span: Span,
}

/// The table of every dimension symbol of a program.
#[derive(Clone, Debug, Default)]
pub struct Dims {
    infos: Vec<DimInfo>,
}

impl Dims {
    pub fn add(&mut self, name: &str, kind: DimKind, span: Span) -> DimId {
        self.infos.push(DimInfo {
            name: name.to_string(),
            kind,
            span,
        });
        DimId(self.infos.len() as u32 - 1)
    }

    /// Sets a derived dimension's definition (once its dependencies are known).
    pub fn define(&mut self, id: DimId, def: Option<Poly>) {
        self.infos[id.0 as usize].kind = DimKind::Derived { def };
    }

    /// The derived dimension that `p` is the definition of, for display: the
    /// first declared, and only for a definition that is not already a single
    /// name or a constant (`dim Hh = H` does not rename `H`).
    fn derived_named(&self, p: &Poly) -> Option<&str> {
        if p.as_const().is_some() || p.as_var().is_some() {
            return None;
        }
        self.infos.iter().find_map(|d| match &d.kind {
            DimKind::Derived { def: Some(def) } if def == p => Some(d.name.as_str()),
            _ => None,
        })
    }

    pub fn info(&self, id: DimId) -> &DimInfo {
        &self.infos[id.0 as usize]
    }

    pub fn name(&self, id: DimId) -> &str {
        &self.infos[id.0 as usize].name
    }

    pub fn iter(&self) -> impl Iterator<Item = (DimId, &DimInfo)> {
        self.infos
            .iter()
            .enumerate()
            .map(|(i, info)| (DimId(i as u32), info))
    }

    /// Global dimensions whose default equals `value` (for "write C instead of 10").
    pub fn globals_with_default(&self, value: i64) -> Vec<&str> {
        self.infos
            .iter()
            .filter(|d| {
                d.kind
                    == DimKind::Global {
                        default: Some(value),
                    }
            })
            .map(|d| d.name.as_str())
            .collect()
    }
}

/// A factor of a monomial: a dimension symbol, or an opaque floor quotient
/// `num / den` that does not divide exactly (its numerator canonical).
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Atom {
    Var(DimId),
    Div(std::sync::Arc<(Poly, Poly)>),
}

/// A monomial: the product of its (sorted) atoms; empty for the constant term.
type Monomial = Vec<Atom>;

/// A dimension expression in canonical form: a sum of monomials with non-zero
/// integer coefficients, sorted by monomial.
///
/// Nearly every dimension is a single name or an integer, so those two cases
/// are stored inline (cloning a shape allocates nothing per axis); the
/// representation is canonical, so derived equality is polynomial equality.
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Poly(Repr);

#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
enum Repr {
    Const(i64),
    Var(DimId),
    /// Anything else; never a single constant or a single name with coefficient 1.
    General(std::sync::Arc<Vec<(Monomial, i64)>>),
}

impl Poly {
    pub fn constant(c: i64) -> Poly {
        Poly(Repr::Const(c))
    }

    pub fn var(d: DimId) -> Poly {
        Poly(Repr::Var(d))
    }

    /// The canonical terms (allocates for the inline cases; not a hot path).
    fn terms(&self) -> Vec<(Monomial, i64)> {
        match &self.0 {
            Repr::Const(0) => Vec::new(),
            Repr::Const(c) => vec![(Vec::new(), *c)],
            Repr::Var(d) => vec![(vec![Atom::Var(*d)], 1)],
            Repr::General(t) => t.as_ref().clone(),
        }
    }

    /// Builds from canonical terms, choosing the inline form when it applies.
    fn from_terms(terms: Vec<(Monomial, i64)>) -> Poly {
        match terms.as_slice() {
            [] => Poly(Repr::Const(0)),
            [(m, c)] if m.is_empty() => Poly(Repr::Const(*c)),
            [(m, 1)] if m.len() == 1 => match &m[0] {
                Atom::Var(d) => Poly(Repr::Var(*d)),
                Atom::Div(_) => Poly(Repr::General(std::sync::Arc::new(terms))),
            },
            _ => Poly(Repr::General(std::sync::Arc::new(terms))),
        }
    }

    pub fn add(&self, other: &Poly) -> Option<Poly> {
        let mut terms = self.terms();
        terms.extend(other.terms());
        Self::checked(terms)
    }

    pub fn sub(&self, other: &Poly) -> Option<Poly> {
        let mut terms = self.terms();
        for (m, c) in other.terms() {
            terms.push((m, c.checked_neg()?));
        }
        Self::checked(terms)
    }

    pub fn mul(&self, other: &Poly) -> Option<Poly> {
        let (a, b) = (self.terms(), other.terms());
        let mut terms = Vec::with_capacity(a.len() * b.len());
        for (ma, ca) in &a {
            for (mb, cb) in &b {
                let mut m = ma.clone();
                m.extend_from_slice(mb);
                terms.push((m, ca.checked_mul(*cb)?));
            }
        }
        Self::checked(terms)
    }

    /// Floor division by a positive divisor (SPEC section 3). Exact division
    /// simplifies (`H * W / W` is `H`, `(2 * N + 2) / 2` is `N + 1`); by a
    /// constant, the part of each coefficient the divisor divides comes out
    /// (`(3 * N + 1) / 2` is `N + (N + 1) / 2`); the rest stays an opaque
    /// quotient whose numerator is canonical. `None` on a zero or negative
    /// constant divisor, or on overflow.
    pub fn floor_div(&self, den: &Poly) -> Option<Poly> {
        if let Some(c) = den.as_const() {
            if c <= 0 {
                return None;
            }
            if c == 1 {
                return Some(self.clone());
            }
            let mut q = Vec::new();
            let mut r = Vec::new();
            for (m, coef) in self.terms() {
                let (qc, rc) = (coef.div_euclid(c), coef.rem_euclid(c));
                if qc != 0 {
                    q.push((m.clone(), qc));
                }
                if rc != 0 {
                    r.push((m, rc));
                }
            }
            let q = Self::checked(q)?;
            let r = Self::checked(r)?;
            // 0 <= r < c when r is a constant: its quotient is 0.
            if r.as_const().is_some() {
                return Some(q);
            }
            // floor((floor(x / a) + k) / c) = floor((x + a k) / (a c)) for
            // positive integers a, c: nested divisions by constants merge, so
            // a pool after a strided convolution, `((H + 1) / 2) / 2`, is
            // `(H + 1) / 4`, whichever way it is written.
            if let Some((x, a, k)) = r.single_quotient() {
                let inner = x.add(&Poly::constant(a.checked_mul(k)?))?;
                return q.add(&inner.floor_div(&Poly::constant(a.checked_mul(c)?))?);
            }
            return q.add(&Self::opaque(r, den.clone()));
        }
        // A single-monomial divisor: exact when it divides every term.
        let dt = den.terms();
        if let [(dm, dc)] = dt.as_slice() {
            if *dc > 0 {
                let mut q = Vec::new();
                let exact = self.terms().into_iter().all(|(m, c)| {
                    let mut rest = m.clone();
                    for a in dm {
                        match rest.iter().position(|x| x == a) {
                            Some(k) => {
                                rest.remove(k);
                            }
                            None => return false,
                        }
                    }
                    if c % dc != 0 {
                        return false;
                    }
                    q.push((rest, c / dc));
                    true
                });
                if exact {
                    return Self::checked(q);
                }
            }
        }
        Some(Self::opaque(self.clone(), den.clone()))
    }

    /// `Some((x, a, k))` when the polynomial is `x / a + k` for a constant
    /// `a` (and any constant `k`): one quotient with coefficient 1.
    fn single_quotient(&self) -> Option<(Poly, i64, i64)> {
        let Repr::General(t) = &self.0 else {
            return None;
        };
        let (mut quotient, mut k) = (None, 0);
        for (m, c) in t.iter() {
            match (m.as_slice(), *c) {
                ([], c) => k = c,
                ([Atom::Div(q)], 1) if quotient.is_none() => {
                    let a = q.1.as_const().filter(|a| *a >= 1)?;
                    quotient = Some((q.0.clone(), a));
                }
                _ => return None,
            }
        }
        let (x, a) = quotient?;
        Some((x, a, k))
    }

    fn opaque(num: Poly, den: Poly) -> Poly {
        Poly::from_terms(vec![(vec![Atom::Div(std::sync::Arc::new((num, den)))], 1)])
    }

    /// Normalizes, refusing coefficient overflow.
    fn checked(terms: Vec<(Monomial, i64)>) -> Option<Poly> {
        // Sum coefficients in i128 to detect overflow, then narrow.
        let mut wide: Vec<(Monomial, i128)> =
            terms.into_iter().map(|(m, c)| (m, c as i128)).collect();
        for (m, _) in &mut wide {
            m.sort_unstable();
        }
        wide.sort_by(|a, b| a.0.cmp(&b.0));
        let mut out: Vec<(Monomial, i64)> = Vec::new();
        let mut acc: Option<(Monomial, i128)> = None;
        for (m, c) in wide {
            match &mut acc {
                Some((am, ac)) if *am == m => *ac += c,
                _ => {
                    if let Some((am, ac)) = acc.take() {
                        out.push((am, i64::try_from(ac).ok()?));
                    }
                    acc = Some((m, c));
                }
            }
        }
        if let Some((am, ac)) = acc {
            out.push((am, i64::try_from(ac).ok()?));
        }
        out.retain(|(_, c)| *c != 0);
        Some(Self::from_terms(out))
    }

    pub fn as_const(&self) -> Option<i64> {
        match self.0 {
            Repr::Const(c) => Some(c),
            _ => None,
        }
    }

    /// `Some(d)` when the polynomial is exactly the symbol `d`.
    pub fn as_var(&self) -> Option<DimId> {
        match self.0 {
            Repr::Var(d) => Some(d),
            _ => None,
        }
    }

    pub fn is_one(&self) -> bool {
        self.as_const() == Some(1)
    }

    /// Every symbol, with repetitions (those inside quotients too).
    pub fn vars(&self) -> Vec<DimId> {
        match &self.0 {
            Repr::Const(_) => Vec::new(),
            Repr::Var(d) => vec![*d],
            Repr::General(t) => {
                let mut out = Vec::new();
                for (m, _) in t.iter() {
                    for a in m {
                        match a {
                            Atom::Var(d) => out.push(*d),
                            Atom::Div(q) => {
                                out.extend(q.0.vars());
                                out.extend(q.1.vars());
                            }
                        }
                    }
                }
                out
            }
        }
    }

    /// `Some((a, b))` when the polynomial is `a * d + b` with `d` appearing
    /// nowhere in `a` or `b` (not inside a quotient, not squared): the form
    /// binding solves for `d`.
    pub fn linear_in(&self, d: DimId) -> Option<(Poly, Poly)> {
        let mut a = Vec::new();
        let mut b = Vec::new();
        for (m, c) in self.terms() {
            let n = m.iter().filter(|x| **x == Atom::Var(d)).count();
            let inside = m.iter().any(
                |x| matches!(x, Atom::Div(q) if q.0.vars().contains(&d) || q.1.vars().contains(&d)),
            );
            if inside || n > 1 {
                return None;
            }
            if n == 1 {
                let rest: Vec<Atom> = m.into_iter().filter(|x| *x != Atom::Var(d)).collect();
                a.push((rest, c));
            } else {
                b.push((m, c));
            }
        }
        Some((Self::checked(a)?, Self::checked(b)?))
    }

    /// Replaces symbols by polynomials (`None` from `f` keeps the symbol).
    pub fn subst(&self, f: &dyn Fn(DimId) -> Option<Poly>) -> Option<Poly> {
        match &self.0 {
            Repr::Const(_) => return Some(self.clone()),
            Repr::Var(d) => return Some(f(*d).unwrap_or_else(|| self.clone())),
            Repr::General(_) => {}
        }
        let mut total = Poly::constant(0);
        for (m, c) in self.terms() {
            let mut term = Poly::constant(c);
            for a in m {
                let factor = match a {
                    Atom::Var(d) => f(d).unwrap_or_else(|| Poly::var(d)),
                    Atom::Div(q) => q.0.subst(f)?.floor_div(&q.1.subst(f)?)?,
                };
                term = term.mul(&factor)?;
            }
            total = total.add(&term)?;
        }
        Some(total)
    }

    /// The value under an assignment of symbols, if every symbol has one (and
    /// every divisor is positive).
    pub fn eval(&self, f: &dyn Fn(DimId) -> Option<i64>) -> Option<i128> {
        let mut total: i128 = 0;
        for (m, c) in self.terms() {
            let mut term = c as i128;
            for a in m {
                let v = match a {
                    Atom::Var(d) => f(d)? as i128,
                    Atom::Div(q) => {
                        let (n, d) = (q.0.eval(f)?, q.1.eval(f)?);
                        if d <= 0 {
                            return None;
                        }
                        n.div_euclid(d)
                    }
                };
                term = term.checked_mul(v)?;
            }
            total = total.checked_add(term)?;
        }
        Some(total)
    }

    /// How big the polynomial is: its terms and factors, quotients' insides
    /// included (derived dimensions are limited by it: `dim A2 = A1 * A1`
    /// doubles the degree with each line).
    pub fn size(&self) -> usize {
        match &self.0 {
            Repr::Const(_) | Repr::Var(_) => 1,
            Repr::General(t) => t
                .iter()
                .map(|(m, _)| {
                    1 + m
                        .iter()
                        .map(|a| match a {
                            Atom::Var(_) => 1,
                            Atom::Div(q) => 1 + q.0.size() + q.1.size(),
                        })
                        .sum::<usize>()
                })
                .sum(),
        }
    }

    /// Whether some divisor inside is below 1 under `f` (why [`Poly::eval`]
    /// fails when every symbol has a value, other than overflow).
    pub fn divides_by_less_than_one(&self, f: &dyn Fn(DimId) -> Option<i64>) -> bool {
        let Repr::General(t) = &self.0 else {
            return false;
        };
        t.iter().flat_map(|(m, _)| m).any(|a| match a {
            Atom::Var(_) => false,
            Atom::Div(q) => {
                q.1.eval(f).is_some_and(|d| d < 1)
                    || q.0.divides_by_less_than_one(f)
                    || q.1.divides_by_less_than_one(f)
            }
        })
    }

    /// `N`, `H * W`, `T + 1`, `2 * N - 1`, `(H + 1) / 2`; a derived
    /// dimension's definition is shown by its name (`Ho`), whole or as a
    /// quotient factor (`Ho * Wo`).
    pub fn display(&self, dims: &Dims) -> String {
        self.show(dims, true)
    }

    /// The expression itself even when it defines a derived dimension (hover
    /// shows `dim Ho = (H + 1) / 2`); its parts still show names.
    pub fn display_definition(&self, dims: &Dims) -> String {
        self.show(dims, false)
    }

    fn show(&self, dims: &Dims, name_whole: bool) -> String {
        if name_whole {
            if let Some(name) = dims.derived_named(self) {
                return name.to_string();
            }
        }
        match &self.0 {
            Repr::Const(c) => return c.to_string(),
            Repr::Var(d) => return dims.name(*d).to_string(),
            Repr::General(_) => {}
        }
        // Highest degree first; the constant last.
        let mut terms = self.terms();
        terms.sort_by(|a, b| b.0.len().cmp(&a.0.len()).then(a.0.cmp(&b.0)));
        let single = terms.len() == 1;
        let mut out = String::new();
        for (i, (m, c)) in terms.iter().enumerate() {
            let negative = *c < 0;
            let magnitude = c.unsigned_abs();
            if i == 0 {
                if negative {
                    out.push('-');
                }
            } else {
                out.push_str(if negative { " - " } else { " + " });
            }
            let names: Vec<String> = m
                .iter()
                .map(|a| match a {
                    Atom::Var(d) => dims.name(*d).to_string(),
                    Atom::Div(q) => {
                        let atom = Poly::from_terms(vec![(vec![a.clone()], 1)]);
                        // (not the definition being shown by `display_definition`)
                        if name_whole || atom != *self {
                            if let Some(name) = dims.derived_named(&atom) {
                                return name.to_string();
                            }
                        }
                        let wrap = |p: &Poly| {
                            let s = p.display(dims);
                            if p.as_const().is_some()
                                || p.as_var().is_some()
                                || dims.derived_named(p).is_some()
                            {
                                s
                            } else {
                                format!("({s})")
                            }
                        };
                        let s = format!("{} / {}", wrap(&q.0), wrap(&q.1));
                        if single && m.len() == 1 && magnitude == 1 && !negative {
                            s
                        } else {
                            format!("({s})")
                        }
                    }
                })
                .collect();
            if m.is_empty() {
                out.push_str(&magnitude.to_string());
            } else if magnitude == 1 {
                out.push_str(&names.join(" * "));
            } else {
                out.push_str(&format!("{magnitude} * {}", names.join(" * ")));
            }
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn products_commute_and_constants_fold() {
        let mut dims = Dims::default();
        let h = Poly::var(dims.add("H", DimKind::Global { default: None }, Span::default()));
        let w = Poly::var(dims.add("W", DimKind::Global { default: None }, Span::default()));
        assert_eq!(h.mul(&w), w.mul(&h));
        let t1 = h.add(&Poly::constant(1)).unwrap();
        assert_eq!(t1.display(&dims), "H + 1");
        assert_eq!(t1.sub(&Poly::constant(1)).unwrap(), h);
        assert_eq!(w.mul(&h).unwrap().display(&dims), "H * W");
        assert_eq!(Poly::constant(2).mul(&h).unwrap().display(&dims), "2 * H");
        assert!(Poly::constant(i64::MAX).mul(&Poly::constant(2)).is_none());
    }

    #[test]
    fn floor_division() {
        let mut dims = Dims::default();
        let h = Poly::var(dims.add("H", DimKind::Global { default: None }, Span::default()));
        let w = Poly::var(dims.add("W", DimKind::Global { default: None }, Span::default()));
        let two = Poly::constant(2);
        assert_eq!(h.mul(&w).unwrap().floor_div(&w).unwrap(), h);
        let n1 = h.add(&Poly::constant(1)).unwrap();
        let half = n1.floor_div(&two).unwrap();
        assert_eq!(half.display(&dims), "(H + 1) / 2");
        // (H - 1) / 2 + 1 is (H + 1) / 2
        let conv = h
            .sub(&Poly::constant(1))
            .unwrap()
            .floor_div(&two)
            .unwrap()
            .add(&Poly::constant(1))
            .unwrap();
        assert_eq!(conv, half);
        assert_eq!(half.eval(&|_| Some(6)), Some(3));
        assert_eq!(
            two.mul(&h)
                .unwrap()
                .add(&two)
                .unwrap()
                .floor_div(&two)
                .unwrap(),
            n1
        );
        assert_eq!(h.floor_div(&w).unwrap().display(&dims), "H / W");
        assert!(h.floor_div(&Poly::constant(0)).is_none());
        let (a, b) = h
            .mul(&w)
            .unwrap()
            .add(&two)
            .unwrap()
            .linear_in(DimId(1))
            .unwrap();
        assert_eq!((a, b), (h.clone(), two.clone()));
        assert!(half.linear_in(DimId(0)).is_none());
    }

    #[test]
    fn nested_divisions_by_constants_merge() {
        let mut dims = Dims::default();
        let h = Poly::var(dims.add("H", DimKind::Global { default: None }, Span::default()));
        let c = Poly::constant;
        // a strided convolution, then a 2x2 pool: ((H + 1) / 2 - 2) / 2 + 1
        let conv = h
            .sub(&c(1))
            .unwrap()
            .floor_div(&c(2))
            .unwrap()
            .add(&c(1))
            .unwrap();
        let pool = conv
            .sub(&c(2))
            .unwrap()
            .floor_div(&c(2))
            .unwrap()
            .add(&c(1))
            .unwrap();
        let direct = h.add(&c(1)).unwrap().floor_div(&c(4)).unwrap();
        assert_eq!(pool, direct);
        assert_eq!(pool.display(&dims), "(H + 1) / 4");
        for v in 1..40i64 {
            let at = |_| Some(v);
            let want = ((v - 1).div_euclid(2) + 1 - 2).div_euclid(2) + 1;
            assert_eq!(pool.eval(&at), Some(want as i128), "H={v}");
        }
        // floor((floor(x / 3) + 1) / 2) = floor((x + 3) / 6)
        let q = h
            .floor_div(&c(3))
            .unwrap()
            .add(&c(1))
            .unwrap()
            .floor_div(&c(2))
            .unwrap();
        assert_eq!(q, h.add(&c(3)).unwrap().floor_div(&c(6)).unwrap());
    }

    #[test]
    fn derived_dimensions_display_by_name() {
        let mut dims = Dims::default();
        let h = Poly::var(dims.add("H", DimKind::Global { default: None }, Span::default()));
        let w = Poly::var(dims.add("W", DimKind::Global { default: None }, Span::default()));
        let c = Poly::constant;
        let ho = h.add(&c(1)).unwrap().floor_div(&c(2)).unwrap();
        let wo = w.add(&c(1)).unwrap().floor_div(&c(2)).unwrap();
        let id = dims.add("Ho", DimKind::Global { default: None }, Span::default());
        dims.define(id, Some(ho.clone()));
        let id = dims.add("Wo", DimKind::Global { default: None }, Span::default());
        dims.define(id, Some(wo.clone()));
        let alias = dims.add("Hh", DimKind::Global { default: None }, Span::default());
        dims.define(alias, Some(h.clone()));
        assert_eq!(ho.display(&dims), "Ho");
        assert_eq!(ho.display_definition(&dims), "(H + 1) / 2");
        let hp = ho.floor_div(&w).unwrap();
        assert_eq!(hp.display_definition(&dims), "Ho / W");
        assert_eq!(ho.mul(&wo).unwrap().display(&dims), "Ho * Wo");
        assert_eq!(
            c(2).mul(&ho).unwrap().add(&c(1)).unwrap().display(&dims),
            "2 * Ho + 1"
        );
        // an alias does not rename the dimension it names
        assert_eq!(h.display(&dims), "H");
        // the quotient of a derived dimension shows it inside
        let pool = ho.floor_div(&w).unwrap();
        assert_eq!(pool.display(&dims), "Ho / W");
    }
}
