//! `CTA_SECCTX`: the security context name (SELinux and friends).

use crate::attr::cstr;
use crate::consts::*;
use crate::error::Result;
use crate::table::{Len, Table};

const SPEC: [Len; 1] = [Len::Str];

/// A borrowed `CTA_SECCTX` nest.
#[derive(Debug, Clone, Copy)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct SecCtxView<'a> {
    name: Option<&'a [u8]>,
}

impl<'a> SecCtxView<'a> {
    /// Validates the nest.
    pub fn new_checked(bytes: &'a [u8]) -> Result<Self> {
        let t = Table::parse(bytes, CTA_SECCTX, &SPEC)?;
        Ok(SecCtxView {
            name: t.get(CTA_SECCTX_NAME),
        })
    }

    pub(crate) fn check(bytes: &[u8]) -> Result<()> {
        SecCtxView::new_checked(bytes).map(|_| ())
    }

    /// Returns the context name (`CTA_SECCTX_NAME`), if it is UTF-8.
    pub fn name(&self) -> Option<&'a str> {
        self.name.and_then(cstr)
    }
}
