//! placeholder
use crate::model::Platform;
/// placeholder
pub fn emit(_platform: &Platform) -> super::Files { super::Files::new() }
