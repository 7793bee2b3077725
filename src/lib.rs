//! gradlang: tensor programs and their derivatives.
