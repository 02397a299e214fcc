//! placeholder
use crate::model::Platform;
/// placeholder
pub fn emit(_platform: &Platform, _tree: &crate::output::Tree) -> String { String::new() }
