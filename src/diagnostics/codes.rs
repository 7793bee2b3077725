//! The stable diagnostic codes (SPEC section 7). A code never changes meaning once
//! released; new problems get new codes. `ALL_CODES` drives the documentation table
//! and the test that every code has a snapshot.

macro_rules! codes {
    ($($variant:ident = $code:literal, $title:literal;)*) => {
        /// A stable diagnostic code such as `E0302`.
        #[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
        pub enum Code { $($variant),* }

        /// Every code with its one-line title, in order.
        pub const ALL_CODES: &[(Code, &str)] = &[$((Code::$variant, $title)),*];

        impl Code {
            pub fn as_str(self) -> &'static str {
                match self { $(Code::$variant => $code),* }
            }

            pub fn title(self) -> &'static str {
                match self { $(Code::$variant => $title),* }
            }
        }
    };
}

codes! {
    // E01xx syntax
    E0101 = "E0101", "syntax error";
    E0102 = "E0102", "keyword used as a name";
    E0103 = "E0103", "statement not allowed here";
    E0104 = "E0104", "nesting too deep";
    E0105 = "E0105", "param without an initializer";
    E0106 = "E0106", "invalid number literal";
    // E02xx names
    E0201 = "E0201", "unknown name";
    E0202 = "E0202", "name used before it is bound";
    E0203 = "E0203", "name bound twice";
    E0204 = "E0204", "wrong kind of name";
    E0205 = "E0205", "unknown member";
    E0206 = "E0206", "wrong arguments to a built-in function";
    // E03xx shapes
    E0301 = "E0301", "shapes cannot be broadcast";
    E0302 = "E0302", "matrix product dimensions do not match";
    E0303 = "E0303", "matrix product of a scalar";
    E0304 = "E0304", "invalid axis";
    E0305 = "E0305", "reshape changes the number of elements";
    E0306 = "E0306", "invalid permutation";
    E0307 = "E0307", "assert compares different shapes";
    E0308 = "E0308", "loss is not a scalar";
    E0309 = "E0309", "int tensor where a float tensor is needed";
    E0310 = "E0310", "float tensor where int labels are needed";
    E0311 = "E0311", "tensordot contraction does not match";
    E0312 = "E0312", "initializer does not fit the declaration";
    E0313 = "E0313", "invalid dimension expression";
    E0314 = "E0314", "exponent is not a scalar";
    E0315 = "E0315", "operands must have the same shape";
    E0316 = "E0316", "value is not a tensor";
    E0330 = "E0330", "condition is not a bool tensor";
    E0331 = "E0331", "index out of range";
    E0332 = "E0332", "invalid index";
    E0340 = "E0340", "convolution or pooling shapes do not fit";
    E0341 = "E0341", "tensors to join do not fit";
    // E04xx derivatives
    E0401 = "E0401", "gradient of a non-scalar";
    E0402 = "E0402", "cotangent does not have the output's shape";
    E0403 = "E0403", "tangent does not have the variable's shape";
    E0404 = "E0404", "derivative with respect to an int tensor";
    E0405 = "E0405", "derivative variable is not a name";
    // E05xx layers
    E0501 = "E0501", "wrong number of dimension arguments";
    E0502 = "E0502", "invalid named dimension argument";
    E0503 = "E0503", "wrong number of arguments to a layer call";
    E0504 = "E0504", "argument does not fit the layer signature";
    E0505 = "E0505", "recursive layer";
    E0506 = "E0506", "layer body needs exactly one return, last";
    E0507 = "E0507", "layer returns a different shape than declared";
    E0508 = "E0508", "cannot infer a generic dimension";
    E0509 = "E0509", "parameter shape depends on a per-call dimension";
    // E06xx run time
    E0601 = "E0601", "missing input value";
    E0602 = "E0602", "cannot read data file";
    E0603 = "E0603", "data file does not fit the declaration";
    E0604 = "E0604", "dimension conflict";
    E0605 = "E0605", "dimension has no value";
    E0606 = "E0606", "jacobian too large";
    E0607 = "E0607", "assert failed";
    E0608 = "E0608", "non-finite value";
    E0609 = "E0609", "cannot write output";
    E0610 = "E0610", "value too large";
    E0611 = "E0611", "unknown name on the command line";
    E0612 = "E0612", "derivative through a materialized jacobian";
    E0613 = "E0613", "dimension or index out of range at run time";
    E0614 = "E0614", "cannot read the program";
    E0615 = "E0615", "params file does not fit the program";
    E0616 = "E0616", "a derived dimension set on the command line";
    E0699 = "E0699", "internal error";
    // E07xx training: E0701-E0709 are found by checking, E0710 on by running
    E0701 = "E0701", "`train` without a loss";
    E0702 = "E0702", "`over` is not the example dimension";
    E0703 = "E0703", "data input without the example dimension first";
    E0704 = "E0704", "unknown or invalid training option";
    E0705 = "E0705", "`params=` or `decay=` names something other than a trained param";
    E0706 = "E0706", "more than one `train` statement";
    E0707 = "E0707", "metric is not a scalar";
    E0710 = "E0710", "training data does not fit";
    E0711 = "E0711", "checkpoint cannot be used";
    E0712 = "E0712", "non-finite loss or gradient";
    E0713 = "E0713", "program cannot be trained or evaluated";
    E0714 = "E0714", "invalid training option on the command line";
    // W0xxx warnings
    W0001 = "W0001", "unused binding";
    W0002 = "W0002", "derivative of an independent value";
    W0003 = "W0003", "large jacobian";
    W0004 = "W0004", "dimension literal where a name exists";
    W0005 = "W0005", "broadcast adds an axis on both sides";
    W0006 = "W0006", "loss grows with the batch size";
}

impl Code {
    pub fn is_warning(self) -> bool {
        self.as_str().starts_with('W')
    }
}

impl std::fmt::Display for Code {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}
