//! Patch formats: JSON patch, JSON merge patch, strategic merge patch and
//! server-side apply (with managedFields).

pub mod apply;
pub mod fieldset;
pub mod json;
pub mod merge;
pub mod shape;
pub mod strategic;
