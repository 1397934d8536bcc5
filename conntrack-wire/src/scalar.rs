//! Wire codecs for scalar attributes, and the macro that declares a nest made only of scalars
//! (view, owned repr, parse and emit) from one table of `field: KIND => Codec`.

use crate::emit::Emitter;

/// How one scalar attribute is laid out on the wire.
pub trait Codec {
    /// The Rust value type.
    type T: Copy;
    /// The payload length on the wire.
    const LEN: u16;
    /// Decodes a payload of exactly `LEN` bytes.
    fn get(p: &[u8]) -> Option<Self::T>;
    /// Emits the attribute.
    fn put(e: &mut Emitter<'_>, kind: u16, v: Self::T);
}

/// A `u8` attribute.
pub struct U8;
/// A big-endian `u16` attribute.
pub struct Be16;
/// A big-endian `u32` attribute.
pub struct Be32;
/// A big-endian `u64` attribute.
pub struct Be64;
/// A host-endian `u32` attribute.
pub struct Ne32;

impl Codec for U8 {
    type T = u8;
    const LEN: u16 = 1;
    fn get(p: &[u8]) -> Option<u8> {
        crate::attr::u8_(p)
    }
    fn put(e: &mut Emitter<'_>, kind: u16, v: u8) {
        e.put_u8(kind, v)
    }
}
impl Codec for Be16 {
    type T = u16;
    const LEN: u16 = 2;
    fn get(p: &[u8]) -> Option<u16> {
        crate::attr::be_u16(p)
    }
    fn put(e: &mut Emitter<'_>, kind: u16, v: u16) {
        e.put_u16_be(kind, v)
    }
}
impl Codec for Be32 {
    type T = u32;
    const LEN: u16 = 4;
    fn get(p: &[u8]) -> Option<u32> {
        crate::attr::be_u32(p)
    }
    fn put(e: &mut Emitter<'_>, kind: u16, v: u32) {
        e.put_u32_be(kind, v)
    }
}
impl Codec for Be64 {
    type T = u64;
    const LEN: u16 = 8;
    fn get(p: &[u8]) -> Option<u64> {
        crate::attr::be_u64(p)
    }
    fn put(e: &mut Emitter<'_>, kind: u16, v: u64) {
        e.put_u64_be(kind, v)
    }
}
impl Codec for Ne32 {
    type T = u32;
    const LEN: u16 = 4;
    fn get(p: &[u8]) -> Option<u32> {
        crate::attr::ne_u32(p)
    }
    fn put(e: &mut Emitter<'_>, kind: u16, v: u32) {
        e.put_u32_ne(kind, v)
    }
}

/// Declares a nest of scalar attributes: a borrowed view with one getter per field (validated
/// once, O(1) getters) and a plain `Copy` repr with `parse` and `emit`.
macro_rules! scalar_nest {
    (
        $(#[$vm:meta])* view $view:ident;
        $(#[$rm:meta])* repr $repr:ident;
        nest $nest:expr, max $max:literal;
        $( $(#[$fm:meta])* $field:ident : $kind:path => $codec:ty; )*
    ) => {
        $crate::scalar::scalar_nest! {
            $(#[$vm])* view $view;
            nest $nest, max $max;
            $( $(#[$fm])* $field : $kind => $codec; )*
        }

        $(#[$rm])*
        #[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash)]
        #[cfg_attr(feature = "defmt", derive(defmt::Format))]
        #[cfg_attr(feature = "serde", derive(serde::Serialize))]
        #[non_exhaustive]
        pub struct $repr {
            $(
                $(#[$fm])*
                #[cfg_attr(feature = "serde", serde(skip_serializing_if = "Option::is_none"))]
                pub $field: Option<<$codec as $crate::scalar::Codec>::T>,
            )*
        }

        impl $repr {
            /// Copies every field out of a view.
            pub fn parse(v: &$view<'_>) -> Self {
                Self { $( $field: v.$field(), )* }
            }

            /// Emits the fields that are set, as the content of a nest (without the nest header).
            pub fn emit(&self, e: &mut $crate::emit::Emitter<'_>) {
                $( if let Some(x) = self.$field { <$codec as $crate::scalar::Codec>::put(e, $kind, x); } )*
            }

            /// Emits the fields as a nest of type `kind`.
            pub fn emit_nest(&self, e: &mut $crate::emit::Emitter<'_>, kind: u16) {
                e.nest(kind, |e| self.emit(e));
            }
        }

        #[cfg(feature = "defmt")]
        impl defmt::Format for $view<'_> {
            fn format(&self, f: defmt::Formatter<'_>) {
                defmt::write!(f, "{}", $repr::parse(self))
            }
        }
    };
    // The view alone, for a nest whose owned form is written by hand.
    (
        $(#[$vm:meta])* view $view:ident;
        nest $nest:expr, max $max:literal;
        $( $(#[$fm:meta])* $field:ident : $kind:path => $codec:ty; )*
    ) => {
        $(#[$vm])*
        #[derive(Debug, Clone, Copy)]
        pub struct $view<'a> {
            t: $crate::table::Table<'a, $max>,
        }

        impl<'a> $view<'a> {
            // Evaluated at compile time: an out-of-range kind is a build error, not a panic.
            #[allow(clippy::indexing_slicing)]
            pub(crate) const SPEC: [$crate::table::Len; $max] = {
                let mut s = [$crate::table::Len::Any; $max];
                $( s[($kind - 1) as usize] = $crate::table::Len::Exact(<$codec as $crate::scalar::Codec>::LEN); )*
                s
            };

            /// Validates the nest payload `bytes` once; afterwards no getter can panic.
            pub fn new_checked(bytes: &'a [u8]) -> $crate::Result<Self> {
                Ok(Self { t: $crate::table::Table::parse(bytes, $nest, &Self::SPEC)? })
            }

            /// A nest already indexed as part of an enclosing table.
            #[allow(dead_code)]
            #[inline]
            pub(crate) fn from_table(t: $crate::table::Table<'a, $max>) -> Self {
                Self { t }
            }

            #[allow(dead_code)]
            pub(crate) fn check(bytes: &[u8]) -> $crate::Result<()> {
                $crate::table::Table::<$max>::parse(bytes, $nest, &Self::SPEC).map(|_| ())
            }

            /// Returns every attribute of the nest, known and unknown, in wire order.
            pub fn attrs(&self) -> $crate::Attrs<'a> {
                self.t.attrs()
            }

            $(
                $(#[$fm])*
                #[inline]
                #[allow(clippy::new_ret_no_self, clippy::wrong_self_convention)]
                pub fn $field(&self) -> Option<<$codec as $crate::scalar::Codec>::T> {
                    self.t
                        .get_exact($kind, usize::from(<$codec as $crate::scalar::Codec>::LEN))
                        .and_then(<$codec as $crate::scalar::Codec>::get)
                }
            )*
        }

        impl $crate::table::Schema for $view<'_> {
            const RULES: &'static [$crate::table::Len] = &Self::SPEC;
            const SLOTS: usize = $max;
        }

    };
}
pub(crate) use scalar_nest;

/// Declares a kernel enumeration: a `#[non_exhaustive]` enum ending in `Unknown(n)`, with
/// lossless conversions from and to the wire value and the kernel's display name.
macro_rules! kernel_enum {
    (
        $(#[$m:meta])* $name:ident : $int:ty {
            $( $(#[$vm:meta])* $variant:ident = $value:literal => $label:literal, )*
        }
    ) => {
        $(#[$m])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
        #[cfg_attr(feature = "defmt", derive(defmt::Format))]
        #[non_exhaustive]
        pub enum $name {
            $( $(#[$vm])* $variant, )*
            /// A value this version does not know, kept as is.
            Unknown($int),
        }

        impl From<$int> for $name {
            fn from(v: $int) -> Self {
                match v {
                    $( $value => $name::$variant, )*
                    other => $name::Unknown(other),
                }
            }
        }

        impl From<$name> for $int {
            fn from(v: $name) -> $int {
                match v {
                    $( $name::$variant => $value, )*
                    $name::Unknown(other) => other,
                }
            }
        }

        impl $name {
            /// Returns the name conntrack-tools prints for this value.
            pub fn name(&self) -> &'static str {
                match self {
                    $( $name::$variant => $label, )*
                    $name::Unknown(_) => "UNKNOWN",
                }
            }
        }
    };
}
pub(crate) use kernel_enum;
