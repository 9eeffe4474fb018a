//! Constant tables declared once: an enum and the length-prefixed words that name its variants
//! ([`word_table!`]), and the texts of a type's values with the index that finds each
//! ([`text_table!`]). The blobs are built at compile time, so a table cannot disagree with its
//! enum or match and nothing is counted by hand.
//!
//! Why blobs: a `&[&str]` costs a pointer and a length per entry in flash; a length-prefixed word
//! list or a NUL-separated text list costs one byte per entry.

/// Declares a fieldless enum and `const TABLE: &[u8]`, the [`prefixed`] list of its variants'
/// words in declaration order. `Enum::named(word)` is the variant named `word` (without ASCII
/// case with `ignoring case` after the table's name), `Enum::ALL` lists the variants in order.
///
/// ```ignore
/// word_table! {
///     #[derive(Clone, Copy)]
///     pub enum Field in KEYS { Type = "type", Url = "url" }
/// }
/// ```
macro_rules! word_table {
    (
        @make $fold:literal,
        $(#[$meta:meta])*
        $vis:vis enum $Enum:ident in $TABLE:ident {
            $($(#[$vmeta:meta])* $Variant:ident = $word:literal),+ $(,)?
        }
    ) => {
        $(#[$meta])*
        $vis enum $Enum {
            $($(#[$vmeta])* $Variant,)+
        }

        #[allow(dead_code)]
        impl $Enum {
            /// Every variant, in the order of its word in the table.
            const ALL: &[$Enum] = &[$($Enum::$Variant),+];

            /// The variant named `word`.
            #[inline]
            fn named(word: &[u8]) -> Option<Self> {
                Self::from_index($crate::tables::find($TABLE, word, $fold))
            }

            /// The variant of the `i`-th word, `None` past the last. Compares rather than loads
            /// from `ALL`, so the compiler can see that the variant's value is `i`.
            fn from_index(i: usize) -> Option<Self> {
                $(if i == $Enum::$Variant as usize {
                    return Some($Enum::$Variant);
                })+
                None
            }
        }

        /// The variants' words (see `word_table!`).
        const $TABLE: &[u8] = {
            const WORDS: &[&str] = &[$($word),+];
            const LEN: usize = $crate::tables::prefixed_len(WORDS);
            const BLOB: [u8; LEN] = $crate::tables::prefixed(WORDS);
            &BLOB
        };
    };
    (
        $(#[$meta:meta])*
        $vis:vis enum $Enum:ident in $TABLE:ident ignoring case $body:tt
    ) => {
        $crate::tables::word_table!(@make true, $(#[$meta])* $vis enum $Enum in $TABLE $body);
    };
    (
        $(#[$meta:meta])*
        $vis:vis enum $Enum:ident in $TABLE:ident $body:tt
    ) => {
        $crate::tables::word_table!(@make false, $(#[$meta])* $vis enum $Enum in $TABLE $body);
    };
}
pub(crate) use word_table;

/// Declares `const TEXTS: &str`, the texts below joined by NULs, and `fn nth(self) -> u8` on
/// `Type`, the index of the text whose pattern `self` matches (for `crate::text::nul_text`). The
/// match is exhaustive, so a value without a text does not compile; an or-pattern shares a text.
///
/// ```ignore
/// text_table! {
///     PARSE_ERROR_TEXTS: ParseError::nth {
///         ParseError::NotJson => "not json",
///         ParseError::MissingType | ParseError::MissingField(Field::Type) => "missing type",
///     }
/// }
/// ```
///
/// The second form declares a fieldless enum with the texts: a variant's value is its text's
/// index (`Enum::Variant as usize`), no match needed.
///
/// ```ignore
/// text_table! {
///     enum Msg in RESULT_MSGS { Failed = "upgrade failed", TimeOut = "time_out" }
/// }
/// ```
macro_rules! text_table {
    (
        $TEXTS:ident: $Type:ident::$nth:ident {
            $($pat:pat => $text:literal),+ $(,)?
        }
    ) => {
        $crate::tables::text_table!(@texts $TEXTS, $($text),+);

        impl $Type {
            /// The index of this value's text in the table.
            fn $nth(self) -> u8 {
                $crate::tables::text_table!(@arms self, 0u8, [] $($pat => $text,)+)
            }
        }
    };
    (
        $(#[$meta:meta])*
        $vis:vis enum $Enum:ident in $TEXTS:ident {
            $($(#[$vmeta:meta])* $Variant:ident = $text:literal),+ $(,)?
        }
    ) => {
        $(#[$meta])*
        $vis enum $Enum {
            $($(#[$vmeta])* $Variant,)+
        }

        $crate::tables::text_table!(@texts $TEXTS, $($text),+);
    };
    (@texts $TEXTS:ident, $($text:literal),+) => {
        /// The texts, NUL-separated, in the order of the index (see `text_table!`).
        const $TEXTS: &str = concat!($($text, "\0"),+);

        // The index is a byte, and no text may hold the separator.
        const _: () = assert!(
            $crate::tables::count(&[$($text),+]) <= 256
                && $crate::tables::count_nul($TEXTS) == $crate::tables::count(&[$($text),+])
        );
    };
    // Numbers the arms 0, 1, 2, ... (a macro cannot count otherwise), then writes the match.
    (@arms $self:ident, $i:expr, [$($arms:tt)*] $pat:pat => $text:literal, $($rest:tt)*) => {
        $crate::tables::text_table!(@arms $self, $i + 1, [$($arms)* $pat => $i,] $($rest)*)
    };
    (@arms $self:ident, $i:expr, [$($arms:tt)*]) => {
        match $self {
            $($arms)*
        }
    };
}
pub(crate) use text_table;

/// How many entries `words` has (for the macros' checks).
pub const fn count(words: &[&str]) -> usize {
    words.len()
}

/// How many NULs `s` holds.
pub const fn count_nul(s: &str) -> usize {
    let (b, mut i, mut n) = (s.as_bytes(), 0, 0);
    while i < b.len() {
        n += (b[i] == 0) as usize;
        i += 1;
    }
    n
}

/// The size of the [`prefixed`] table of `words`; a word over 255 bytes does not compile.
pub const fn prefixed_len(words: &[&str]) -> usize {
    let (mut i, mut len) = (0, 0);
    while i < words.len() {
        assert!(
            words[i].len() <= 255,
            "a word's length must fit its length byte"
        );
        len += 1 + words[i].len();
        i += 1;
    }
    len
}

/// The table [`find`] reads: `words`, each after its length byte (one string rather than a
/// `&[&str]`: no pointer and length per word). `N` is [`prefixed_len`]`(words)`.
pub const fn prefixed<const N: usize>(words: &[&str]) -> [u8; N] {
    assert!(N == prefixed_len(words));
    let (mut out, mut at, mut i) = ([0u8; N], 0, 0);
    while i < words.len() {
        let w = words[i].as_bytes();
        out[at] = w.len() as u8;
        at += 1;
        let mut k = 0;
        while k < w.len() {
            out[at] = w[k];
            (at, k) = (at + 1, k + 1);
        }
        i += 1;
    }
    out
}

/// The length of the longest word in a [`prefixed`] table.
pub const fn longest(table: &[u8]) -> usize {
    let (mut at, mut max) = (0, 0);
    while at < table.len() {
        let n = table[at] as usize;
        if n > max {
            max = n;
        }
        at += 1 + n;
    }
    max
}

/// The index of `word` in a [`prefixed`] `table`, ASCII case ignored when `fold`; the number of
/// words when it is not there (so `Enum::from_index` gives `None`). One function for every table.
#[inline(never)]
pub fn find(table: &[u8], word: &[u8], fold: bool) -> usize {
    let (mut rest, mut i) = (table, 0);
    while let [len, tail @ ..] = rest {
        // A word cut short by the table's end (never in a `prefixed` table) matches no other word.
        let (w, next) = tail.split_at_checked(usize::from(*len)).unwrap_or_default();
        if w == word || (fold && w.eq_ignore_ascii_case(word)) {
            break;
        }
        (rest, i) = (next, i + 1);
    }
    i
}

#[cfg(test)]
mod tests {
    use super::*;

    word_table! {
        #[derive(Debug, Clone, Copy, PartialEq, Eq)]
        enum Colour in COLOURS { Red = "red", Green = "green", Empty = "", Blue = "blue" }
    }

    word_table! {
        #[derive(Debug, Clone, Copy, PartialEq, Eq)]
        enum Header in HEADERS ignoring case { Etag = "etag", Location = "location" }
    }

    #[derive(Clone, Copy)]
    enum Shape {
        Dot,
        Line(bool),
    }

    text_table! {
        SHAPE_TEXTS: Shape::nth {
            Shape::Dot | Shape::Line(false) => "dot",
            Shape::Line(true) => "line",
        }
    }

    #[test]
    fn prefixed_words() {
        assert_eq!(COLOURS, b"\x03red\x05green\x00\x04blue");
        assert_eq!(HEADERS, b"\x04etag\x08location");
        assert_eq!((longest(COLOURS), longest(HEADERS)), (5, 8));
        let long = ["x"; 255].concat();
        let words = [long.as_str(), "ab"];
        assert_eq!(prefixed_len(&words), 256 + 3);
        let blob = prefixed::<259>(&words);
        assert_eq!(blob[..2], [255, b'x']);
        assert_eq!(blob[256..], *b"\x02ab");
    }

    #[test]
    fn every_word_names_its_variant() {
        let colours = [
            (Colour::Red, "red"),
            (Colour::Green, "green"),
            (Colour::Empty, ""),
            (Colour::Blue, "blue"),
        ];
        assert_eq!(Colour::ALL.len(), colours.len());
        for (i, (c, w)) in colours.into_iter().enumerate() {
            assert_eq!(Colour::ALL[i], c);
            assert_eq!(find(COLOURS, w.as_bytes(), false), i);
            assert_eq!(Colour::from_index(i), Some(c));
            assert_eq!(Colour::named(w.as_bytes()), Some(c));
        }
        assert_eq!(Colour::from_index(4), None);
        assert_eq!(Colour::from_index(usize::MAX), None);
        for w in ["RED", "Blue", "gree", "greens", "red\0", " red"] {
            assert_eq!(Colour::named(w.as_bytes()), None, "{w}");
        }
        for (h, w) in [(Header::Etag, "ETag"), (Header::Location, "LOCATION")] {
            assert_eq!(Header::named(w.as_bytes()), Some(h));
        }
        assert_eq!(Header::named(b"etags"), None);
        assert_eq!(find(COLOURS, b"RED", true), 0);
        // A word cut short by the end of the table matches no other word.
        assert_eq!(find(b"\x03re", b"re", false), 1);
        assert_eq!(find(b"", b"", true), 0);
    }

    #[test]
    fn texts_follow_their_patterns() {
        assert_eq!(SHAPE_TEXTS, "dot\0line\0");
        let text = |s: Shape| crate::text::nul_text(SHAPE_TEXTS, usize::from(s.nth()));
        assert_eq!(text(Shape::Dot), "dot");
        assert_eq!(text(Shape::Line(false)), "dot");
        assert_eq!(text(Shape::Line(true)), "line");
        assert_eq!(count_nul("a\0b\0\0"), 3);
    }
}
