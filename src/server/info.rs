//! INFO sections.
