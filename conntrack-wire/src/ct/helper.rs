//! `CTA_HELP`: the connection's helper (ftp, sip, tftp, ...).

use crate::attr::cstr;
use crate::consts::*;
use crate::error::Result;
use crate::table::{Len, Table};

const SPEC: [Len; 2] = [Len::Str, Len::Any];

/// A borrowed `CTA_HELP` nest.
#[derive(Debug, Clone, Copy)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct HelperView<'a> {
    name: Option<&'a [u8]>,
    info: Option<&'a [u8]>,
}

impl<'a> HelperView<'a> {
    /// Validates the nest.
    #[inline]
    pub fn new_checked(bytes: &'a [u8]) -> Result<Self> {
        let t = Table::parse(bytes, CTA_HELP, &SPEC)?;
        Ok(HelperView {
            name: t.get(CTA_HELP_NAME),
            info: t.get(CTA_HELP_INFO),
        })
    }

    #[inline]
    pub(crate) fn check(bytes: &[u8]) -> Result<()> {
        HelperView::new_checked(bytes).map(|_| ())
    }

    /// Returns the helper name (`CTA_HELP_NAME`), if it is UTF-8.
    #[inline]
    pub fn name(&self) -> Option<&'a str> {
        self.name.and_then(cstr)
    }

    /// Returns the raw helper name bytes, NUL terminator included if sent.
    #[inline]
    pub fn name_bytes(&self) -> Option<&'a [u8]> {
        self.name
    }

    /// Returns the helper's private data (`CTA_HELP_INFO`).
    #[inline]
    pub fn info(&self) -> Option<&'a [u8]> {
        self.info
    }
}

/// An owned helper; see [`HelperView`].
#[cfg(feature = "alloc")]
#[derive(Debug, Clone, Default, PartialEq, Eq, Hash)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
#[cfg_attr(feature = "serde", derive(serde::Serialize))]
#[non_exhaustive]
pub struct Helper {
    /// `CTA_HELP_NAME`.
    #[cfg_attr(feature = "serde", serde(skip_serializing_if = "Option::is_none"))]
    pub name: Option<alloc::string::String>,
    /// `CTA_HELP_INFO`.
    #[cfg_attr(feature = "serde", serde(skip_serializing_if = "Option::is_none"))]
    pub info: Option<alloc::vec::Vec<u8>>,
}

#[cfg(feature = "alloc")]
impl Helper {
    /// Copies the helper out of a view.
    #[inline]
    pub fn parse(v: &HelperView<'_>) -> Self {
        Helper {
            name: v.name().map(Into::into),
            info: v.info().map(Into::into),
        }
    }

    /// Emits `CTA_HELP` (or another nest type `kind`).
    #[inline]
    pub fn emit_nest(&self, e: &mut crate::Emitter<'_>, kind: u16) {
        e.nest(kind, |e| {
            if let Some(n) = &self.name {
                e.put_str(CTA_HELP_NAME, n);
            }
            if let Some(i) = &self.info {
                e.put(CTA_HELP_INFO, i);
            }
        });
    }
}
