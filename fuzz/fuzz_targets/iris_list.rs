//! The IRIS `$LIST` decoder (`ListReader`) over arbitrary bytes.
//!
//! Beyond "no panic": items follow one another without gaps (each read
//! advances the position, the last ends at the end of the input, an error
//! stops the iteration); every decoded item re-encodes with `ListWriter` to
//! an item that decodes to the same value (integers, decimals and doubles in
//! both the plain and the compact form, strings, NULL, undefined, unknown
//! types); the text forms never fail; nested lists decode as well.

#![no_main]

use libfuzzer_sys::fuzz_target;
use pgiris::backend::iris::list::{Item, ListReader, ListWriter, ty};
use pgiris_fuzz::{assert_allocations_bounded, reset_allocations};

fn same(a: &Item<'_>, b: &Item<'_>) -> bool {
    match (a, b) {
        (Item::Double(x), Item::Double(y)) => x.to_bits() == y.to_bits(),
        _ => a == b,
    }
}

fn reencode(item: &Item<'_>) -> Vec<Vec<u8>> {
    let mut forms = Vec::new();
    let mut one = |f: &dyn Fn(&mut ListWriter)| {
        let mut w = ListWriter::new();
        f(&mut w);
        forms.push(w.into_bytes());
    };
    match *item {
        Item::Undefined => one(&|w| w.push_undefined()),
        Item::Null => one(&|w| w.push_null()),
        Item::Str8(b) => one(&|w| w.push_raw(ty::STR8, b)),
        Item::Str16(b) => one(&|w| w.push_raw(ty::STR16, b)),
        Item::Oref8(b) => one(&|w| w.push_raw(ty::OREF8, b)),
        Item::Oref16(b) => one(&|w| w.push_raw(ty::OREF16, b)),
        Item::Int(i) => one(&|w| w.push_int(i)),
        Item::BigInt(_) => {}
        Item::Decimal { mantissa, exponent } => {
            if let Ok(m) = i64::try_from(mantissa) {
                one(&|w| w.push_decimal(m, exponent));
            }
        }
        Item::Double(f) => {
            one(&|w| w.push_f64(f, false));
            one(&|w| w.push_f64(f, true));
        }
        Item::Other { ty, payload } => one(&|w| w.push_raw(ty, payload)),
    }
    forms
}

fn walk(data: &[u8], depth: usize) {
    let mut r = ListReader::new(data);
    loop {
        let before = r.position();
        match r.next_item() {
            Ok(None) => {
                assert!(before >= data.len());
                break;
            }
            Ok(Some(item)) => {
                assert!(r.position() > before && r.position() <= data.len());
                let _ = item.to_text();
                let _ = item.as_i64();
                let _ = item.to_string();
                let _ = item.is_empty_string();
                for form in reencode(&item) {
                    let mut again = ListReader::new(&form);
                    let decoded = again.next_item();
                    match decoded {
                        Ok(Some(other)) => {
                            assert!(same(&other, &item), "{item:?} came back as {other:?}")
                        }
                        other => panic!("{item:?} re-encoded as {form:?} reads {other:?}"),
                    }
                    assert!(again.is_empty(), "{item:?} re-encoded with trailing bytes");
                }
                if let Item::Str8(inner) = item
                    && depth < 3
                {
                    walk(inner, depth + 1);
                }
            }
            Err(_) => {
                // The iterator stops after an error.
                let mut it = ListReader::new(&data[before..]);
                assert!(it.next().is_some_and(|r| r.is_err()));
                assert!(it.next().is_none());
                break;
            }
        }
    }
}

fuzz_target!(|data: &[u8]| {
    reset_allocations();
    walk(data, 0);
    assert_allocations_bounded("ListReader", data.len(), 16, 4096);
});
