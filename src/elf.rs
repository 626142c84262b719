//! What a copied interpreter binary needs to start, read from its ELF dynamic section.
//!
//! A venv made with `--copies` holds a copy of its base's binary. Whether that copy still runs
//! once the base is gone depends on the binary: a pyenv build is a small launcher that loads
//! `libpython3.X.so.1.0` from its `RUNPATH` (the original prefix's `lib/`, not `home`), a Debian
//! build is a whole interpreter that needs no `libpython`. The detector must know which, and it
//! may not run the copy to find out (DESIGN.md rule 2). So this module reads the few things the
//! dynamic loader would read: the ELF header, the program headers, the `PT_DYNAMIC` segment, and
//! the `DT_NEEDED` / `DT_RUNPATH` / `DT_RPATH` strings of `.dynstr`, located by mapping
//! `DT_STRTAB`'s virtual address through the `PT_LOAD` segments.
//!
//! The input is untrusted: every offset and size is checked, every read is bounded, and anything
//! malformed, truncated or oversized gives `None`, never a panic or a huge allocation. ELF32 and
//! ELF64, little and big endian are read alike.

use std::ffi::{OsStr, OsString};
use std::fs::File;
use std::os::unix::ffi::{OsStrExt, OsStringExt};
use std::os::unix::fs::{FileExt, OpenOptionsExt};
use std::path::{Path, PathBuf};

/// More program headers than any real binary has; more is garbage.
const MAX_PROGRAM_HEADERS: u64 = 4096;
/// A dynamic section or string table larger than this is garbage for our purpose.
const MAX_TABLE_BYTES: u64 = 1 << 20;

const PT_LOAD: u32 = 1;
const PT_DYNAMIC: u32 = 2;
const DT_NULL: u64 = 0;
const DT_NEEDED: u64 = 1;
const DT_STRTAB: u64 = 5;
const DT_STRSZ: u64 = 10;
const DT_RPATH: u64 = 15;
const DT_RUNPATH: u64 = 29;

/// The dynamic-linking facts of one binary.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Dynamic {
    /// `DT_NEEDED` library names, in order (`libpython3.11.so.1.0`, `libc.so.6`).
    pub needed: Vec<OsString>,
    /// `DT_RUNPATH`, as written (`/root/.pyenv/versions/3.11.7/lib`, `$ORIGIN/../lib`).
    pub runpath: Option<OsString>,
    /// `DT_RPATH` (ignored by the loader when `DT_RUNPATH` is present).
    pub rpath: Option<OsString>,
}

impl Dynamic {
    /// The `libpython` the binary needs, if any (`None` for a static interpreter).
    pub fn libpython(&self) -> Option<&OsStr> {
        self.needed
            .iter()
            .map(OsString::as_os_str)
            .find(|n| n.as_bytes().starts_with(b"libpython"))
    }

    /// The dirs the loader searches first for the binary at `binary`: `DT_RUNPATH`, else
    /// `DT_RPATH`, split at `:`, with `$ORIGIN` / `${ORIGIN}` replaced by the binary's dir.
    pub fn search_dirs(&self, binary: &Path) -> Vec<PathBuf> {
        let Some(list) = self.runpath.as_ref().or(self.rpath.as_ref()) else {
            return Vec::new();
        };
        let origin = binary.parent().unwrap_or(Path::new("/")).as_os_str();
        list.as_bytes()
            .split(|b| *b == b':')
            .filter(|entry| !entry.is_empty())
            .map(|entry| PathBuf::from(expand_origin(entry, origin.as_bytes())))
            .collect()
    }
}

/// Replace `$ORIGIN` and `${ORIGIN}` in one runpath entry.
fn expand_origin(entry: &[u8], origin: &[u8]) -> OsString {
    let mut out = Vec::with_capacity(entry.len());
    let mut rest = entry;
    while !rest.is_empty() {
        if let Some(tail) = rest.strip_prefix(b"${ORIGIN}") {
            out.extend_from_slice(origin);
            rest = tail;
        } else if let Some(tail) = rest.strip_prefix(b"$ORIGIN") {
            out.extend_from_slice(origin);
            rest = tail;
        } else {
            out.push(rest[0]);
            rest = &rest[1..];
        }
    }
    OsString::from_vec(out)
}

/// Read the dynamic section of the file at `path` without running it. `None` when it is not a
/// readable regular ELF file, or anything in it is malformed. A static binary gives an empty
/// [`Dynamic`] (no `PT_DYNAMIC`, or no entries of interest).
pub fn read_dynamic(path: &Path) -> Option<Dynamic> {
    // O_NONBLOCK: a FIFO swapped in after the caller's `lstat` must not hang the detector.
    let file = std::fs::OpenOptions::new()
        .read(true)
        .custom_flags(nix::libc::O_NONBLOCK)
        .open(path)
        .ok()?;
    let meta = file.metadata().ok()?;
    if !meta.is_file() {
        return None;
    }
    parse(&FileSource {
        file,
        size: meta.len(),
    })
}

/// [`read_dynamic`] on bytes in memory.
pub fn parse_dynamic(bytes: &[u8]) -> Option<Dynamic> {
    parse(bytes)
}

/// Bounded random access to the binary.
trait Source {
    /// Exactly `len` bytes at `offset`, or `None` if they are not all there.
    fn read_at(&self, offset: u64, len: u64) -> Option<Vec<u8>>;
}

impl Source for [u8] {
    fn read_at(&self, offset: u64, len: u64) -> Option<Vec<u8>> {
        let start = usize::try_from(offset).ok()?;
        let end = start.checked_add(usize::try_from(len).ok()?)?;
        self.get(start..end).map(<[u8]>::to_vec)
    }
}

struct FileSource {
    file: File,
    size: u64,
}

impl Source for FileSource {
    fn read_at(&self, offset: u64, len: u64) -> Option<Vec<u8>> {
        // Checked against the size first, so a garbage length never allocates.
        if offset.checked_add(len)? > self.size {
            return None;
        }
        let mut buf = vec![0u8; usize::try_from(len).ok()?];
        self.file.read_exact_at(&mut buf, offset).ok()?;
        Some(buf)
    }
}

/// The ELF class and byte order, for reading fields.
#[derive(Clone, Copy)]
struct Format {
    is64: bool,
    little: bool,
}

impl Format {
    fn u16(self, b: &[u8], at: usize) -> Option<u64> {
        let bytes: [u8; 2] = b.get(at..at.checked_add(2)?)?.try_into().ok()?;
        Some(u64::from(if self.little {
            u16::from_le_bytes(bytes)
        } else {
            u16::from_be_bytes(bytes)
        }))
    }

    fn u32(self, b: &[u8], at: usize) -> Option<u64> {
        let bytes: [u8; 4] = b.get(at..at.checked_add(4)?)?.try_into().ok()?;
        Some(u64::from(if self.little {
            u32::from_le_bytes(bytes)
        } else {
            u32::from_be_bytes(bytes)
        }))
    }

    fn u64(self, b: &[u8], at: usize) -> Option<u64> {
        let bytes: [u8; 8] = b.get(at..at.checked_add(8)?)?.try_into().ok()?;
        Some(if self.little {
            u64::from_le_bytes(bytes)
        } else {
            u64::from_be_bytes(bytes)
        })
    }

    /// An address/offset-sized field: 4 bytes in ELF32, 8 in ELF64.
    fn word(self, b: &[u8], at: usize) -> Option<u64> {
        if self.is64 {
            self.u64(b, at)
        } else {
            self.u32(b, at)
        }
    }
}

/// One program header, the fields we use.
#[derive(Clone, Copy)]
struct Segment {
    kind: u32,
    /// `p_flags`: `PF_X` 1, `PF_W` 2, `PF_R` 4.
    flags: u32,
    offset: u64,
    vaddr: u64,
    filesz: u64,
}

/// The ELF format and program headers of `src`.
fn program_headers<S: Source + ?Sized>(src: &S) -> Option<(Format, Vec<Segment>)> {
    let ident = src.read_at(0, 16)?;
    if ident.get(0..4)? != b"\x7fELF" {
        return None;
    }
    let is64 = match ident[4] {
        1 => false,
        2 => true,
        _ => return None,
    };
    let little = match ident[5] {
        1 => true,
        2 => false,
        _ => return None,
    };
    let f = Format { is64, little };
    let header = src.read_at(0, if is64 { 64 } else { 52 })?;
    let (phoff, phentsize, phnum) = if is64 {
        (
            f.u64(&header, 0x20)?,
            f.u16(&header, 0x36)?,
            f.u16(&header, 0x38)?,
        )
    } else {
        (
            f.u32(&header, 0x1c)?,
            f.u16(&header, 0x2a)?,
            f.u16(&header, 0x2c)?,
        )
    };
    let min_entsize = if is64 { 56 } else { 32 };
    if phnum == 0 || phnum > MAX_PROGRAM_HEADERS || phentsize < min_entsize {
        return None;
    }
    let table = src.read_at(phoff, phentsize.checked_mul(phnum)?)?;
    let entsize = usize::try_from(phentsize).ok()?;
    let segments = table
        .chunks_exact(entsize)
        .map(|ph| {
            let kind = u32::try_from(f.u32(ph, 0)?).ok()?;
            Some(if is64 {
                Segment {
                    kind,
                    flags: u32::try_from(f.u32(ph, 4)?).ok()?,
                    offset: f.u64(ph, 8)?,
                    vaddr: f.u64(ph, 16)?,
                    filesz: f.u64(ph, 32)?,
                }
            } else {
                Segment {
                    kind,
                    flags: u32::try_from(f.u32(ph, 24)?).ok()?,
                    offset: f.u32(ph, 4)?,
                    vaddr: f.u32(ph, 8)?,
                    filesz: f.u32(ph, 16)?,
                }
            })
        })
        .collect::<Option<Vec<Segment>>>()?;
    Some((f, segments))
}

/// The segments that hold an ELF file's constant strings: its read-only loaded segments
/// (`.rodata`), or every loaded segment when code and data share one. Debug sections and
/// symbol tables, which the loader never maps, are left out.
fn constant_segments(segments: &[Segment]) -> Vec<Segment> {
    const PF_X: u32 = 1;
    const PF_W: u32 = 2;
    let loads: Vec<Segment> = segments
        .iter()
        .copied()
        .filter(|s| s.kind == PT_LOAD)
        .collect();
    let read_only: Vec<Segment> = loads
        .iter()
        .copied()
        .filter(|s| s.flags & (PF_X | PF_W) == 0)
        .collect();
    if read_only.is_empty() {
        loads
    } else {
        read_only
    }
}

/// The bytes of `bytes` (a whole ELF file) that hold its constant strings
/// ([`constant_segments`]). `None` when it is not an ELF file that can be read.
pub fn constant_data(bytes: &[u8]) -> Option<Vec<&[u8]>> {
    let (_, segments) = program_headers(bytes)?;
    constant_segments(&segments)
        .iter()
        .map(|s| {
            let start = usize::try_from(s.offset).ok()?;
            bytes.get(start..start.checked_add(usize::try_from(s.filesz).ok()?)?)
        })
        .collect()
}

/// The dynamic section and the constant data ([`constant_segments`]) of the ELF file open as
/// `file`, reading only those parts of it (a `libpython` is mostly debug info), at most
/// `limit` bytes in all. `None` when it is not a regular ELF file that can be read.
pub fn read_constant_data(file: File, limit: u64) -> Option<(Dynamic, Vec<Vec<u8>>)> {
    let meta = file.metadata().ok()?;
    if !meta.is_file() {
        return None;
    }
    let src = FileSource {
        file,
        size: meta.len(),
    };
    let dynamic = parse(&src)?;
    let (_, segments) = program_headers(&src)?;
    let chosen = constant_segments(&segments);
    let total = chosen
        .iter()
        .try_fold(0u64, |sum, s| sum.checked_add(s.filesz))?;
    if total > limit {
        return None;
    }
    let data = chosen
        .iter()
        .map(|s| src.read_at(s.offset, s.filesz))
        .collect::<Option<Vec<_>>>()?;
    Some((dynamic, data))
}

fn parse<S: Source + ?Sized>(src: &S) -> Option<Dynamic> {
    let (f, segments) = program_headers(src)?;
    let is64 = f.is64;

    let Some(dynamic) = segments.iter().find(|s| s.kind == PT_DYNAMIC) else {
        // A fully static binary: it needs nothing.
        return Some(Dynamic::default());
    };
    if dynamic.filesz > MAX_TABLE_BYTES {
        return None;
    }
    let entries = src.read_at(dynamic.offset, dynamic.filesz)?;
    let entry_size = if is64 { 16 } else { 8 };
    let mut needed = Vec::new();
    let (mut runpath, mut rpath, mut strtab, mut strsz) = (None, None, None, None);
    for entry in entries.chunks_exact(entry_size) {
        let tag = f.word(entry, 0)?;
        let value = f.word(entry, entry_size / 2)?;
        match tag {
            DT_NULL => break,
            DT_NEEDED => needed.push(value),
            DT_RUNPATH => runpath = Some(value),
            DT_RPATH => rpath = Some(value),
            DT_STRTAB => strtab = Some(value),
            DT_STRSZ => strsz = Some(value),
            _ => {}
        }
    }
    if needed.is_empty() && runpath.is_none() && rpath.is_none() {
        return Some(Dynamic::default());
    }
    let (strtab, strsz) = (strtab?, strsz?);
    if strsz == 0 || strsz > MAX_TABLE_BYTES {
        return None;
    }
    let strtab_offset = segments
        .iter()
        .filter(|s| s.kind == PT_LOAD)
        .find(|s| strtab >= s.vaddr && strtab - s.vaddr < s.filesz)
        .and_then(|s| s.offset.checked_add(strtab - s.vaddr))?;
    let strings = src.read_at(strtab_offset, strsz)?;
    let string = |index: u64| -> Option<OsString> {
        let rest = strings.get(usize::try_from(index).ok()?..)?;
        let end = rest.iter().position(|b| *b == 0)?;
        Some(OsString::from_vec(rest[..end].to_vec()))
    };
    let optional = |index: Option<u64>| match index {
        Some(index) => string(index).map(Some),
        None => Some(None),
    };
    Some(Dynamic {
        needed: needed.into_iter().map(string).collect::<Option<Vec<_>>>()?,
        runpath: optional(runpath)?,
        rpath: optional(rpath)?,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A minimal dynamic ELF: header, a PT_LOAD over the whole file, a PT_DYNAMIC, `.dynstr`.
    fn build(is64: bool, little: bool, needed: &[&str], runpath: Option<&str>) -> Vec<u8> {
        let put = |out: &mut Vec<u8>, value: u64, size: usize| {
            let bytes = if little {
                value.to_le_bytes()
            } else {
                value.to_be_bytes()
            };
            if little {
                out.extend_from_slice(&bytes[..size]);
            } else {
                out.extend_from_slice(&bytes[8 - size..]);
            }
        };
        let word = if is64 { 8 } else { 4 };
        let (ehsize, phentsize) = if is64 { (64, 56) } else { (52, 32) };
        let vaddr_base = 0x40_0000u64;
        // Layout: header | 2 program headers | dynstr | dynamic.
        let mut dynstr = vec![0u8];
        let mut offsets = Vec::new();
        for s in needed.iter().copied().chain(runpath) {
            offsets.push(dynstr.len() as u64);
            dynstr.extend_from_slice(s.as_bytes());
            dynstr.push(0);
        }
        let dynstr_off = (ehsize + 2 * phentsize) as u64;
        let dynamic_off = dynstr_off + dynstr.len() as u64;
        let mut tags: Vec<(u64, u64)> = needed
            .iter()
            .enumerate()
            .map(|(i, _)| (DT_NEEDED, offsets[i]))
            .collect();
        if runpath.is_some() {
            tags.push((DT_RUNPATH, offsets[needed.len()]));
        }
        tags.push((DT_STRTAB, vaddr_base + dynstr_off));
        tags.push((DT_STRSZ, dynstr.len() as u64));
        tags.push((DT_NULL, 0));
        let dynamic_size = (tags.len() * 2 * word) as u64;
        let total = dynamic_off + dynamic_size;

        let mut out = b"\x7fELF".to_vec();
        out.push(if is64 { 2 } else { 1 });
        out.push(if little { 1 } else { 2 });
        out.extend_from_slice(&[1, 0, 0, 0, 0, 0, 0, 0, 0, 0]);
        put(&mut out, 2, 2); // e_type
        put(&mut out, 62, 2); // e_machine
        put(&mut out, 1, 4); // e_version
        put(&mut out, vaddr_base, word); // e_entry
        put(&mut out, ehsize as u64, word); // e_phoff
        put(&mut out, 0, word); // e_shoff
        put(&mut out, 0, 4); // e_flags
        put(&mut out, ehsize as u64, 2);
        put(&mut out, phentsize as u64, 2);
        put(&mut out, 2, 2); // e_phnum
        put(&mut out, 0, 2);
        put(&mut out, 0, 2);
        put(&mut out, 0, 2);
        assert_eq!(out.len(), ehsize);
        for (kind, offset, size) in [(PT_LOAD, 0, total), (PT_DYNAMIC, dynamic_off, dynamic_size)] {
            let vaddr = vaddr_base + offset;
            put(&mut out, u64::from(kind), 4);
            if is64 {
                put(&mut out, 0, 4); // p_flags
                for v in [offset, vaddr, vaddr, size, size, 8] {
                    put(&mut out, v, 8);
                }
            } else {
                for v in [offset, vaddr, vaddr, size, size, 0, 4] {
                    put(&mut out, v, 4);
                }
            }
        }
        out.extend_from_slice(&dynstr);
        for (tag, value) in tags {
            put(&mut out, tag, word);
            put(&mut out, value, word);
        }
        assert_eq!(out.len() as u64, total);
        out
    }

    #[test]
    fn reads_every_class_and_byte_order() {
        for is64 in [true, false] {
            for little in [true, false] {
                let bytes = build(
                    is64,
                    little,
                    &["libpython3.8.so.1.0", "libc.so.6"],
                    Some("$ORIGIN/../lib:/opt/py/lib"),
                );
                let d = parse_dynamic(&bytes).unwrap_or_else(|| panic!("{is64} {little}"));
                assert_eq!(d.libpython(), Some(OsStr::new("libpython3.8.so.1.0")));
                assert_eq!(d.needed.len(), 2);
                assert_eq!(
                    d.search_dirs(Path::new("/v/bin/python3.8")),
                    [PathBuf::from("/v/bin/../lib"), PathBuf::from("/opt/py/lib")]
                );
            }
        }
    }

    #[test]
    fn constant_data_is_the_loaded_bytes_and_only_them() {
        for is64 in [true, false] {
            let mut bytes = build(is64, true, &["libpython3.12.so.1.0"], None);
            let loaded = bytes.len();
            // Bytes past every segment (a debug section) are not constant data.
            bytes.extend_from_slice(b"\0/not/loaded\0");
            let data = constant_data(&bytes).unwrap();
            assert_eq!(data, vec![&bytes[..loaded]]);
        }
        assert_eq!(constant_data(b"\0/usr\0"), None);
        // Read from a file, only those bytes are read.
        let tmp = tempfile::NamedTempFile::new().unwrap();
        let mut bytes = build(true, true, &["libpython3.12.so.1.0"], None);
        let loaded = bytes.len();
        bytes.extend_from_slice(b"\0/not/loaded\0");
        std::fs::write(tmp.path(), &bytes).unwrap();
        let (dynamic, data) = read_constant_data(File::open(tmp.path()).unwrap(), 1 << 20).unwrap();
        assert_eq!(
            dynamic.libpython(),
            Some(OsStr::new("libpython3.12.so.1.0"))
        );
        assert_eq!(data, vec![bytes[..loaded].to_vec()]);
        assert_eq!(read_constant_data(File::open(tmp.path()).unwrap(), 8), None);
        // On a real interpreter: its compiled-in prefix is among its constant strings.
        if let Ok(real) = std::fs::read("/usr/bin/python3.11") {
            let data = constant_data(&real).unwrap();
            assert!(data.iter().any(|d| d.windows(6).any(|w| w == b"\0/usr\0")));
        }
    }

    #[test]
    fn a_binary_needing_no_libpython_has_none() {
        let d = parse_dynamic(&build(true, true, &["libc.so.6"], None)).unwrap();
        assert_eq!(d.libpython(), None);
        assert!(d.search_dirs(Path::new("/x/python")).is_empty());
    }

    #[test]
    fn origin_in_braces_and_rpath_when_no_runpath() {
        let d = Dynamic {
            needed: Vec::new(),
            runpath: None,
            rpath: Some("${ORIGIN}/lib::/x".into()),
        };
        assert_eq!(
            d.search_dirs(Path::new("/p/bin/py")),
            [PathBuf::from("/p/bin/lib"), PathBuf::from("/x")]
        );
    }

    #[test]
    fn garbage_and_truncations_give_none_without_panicking() {
        assert_eq!(parse_dynamic(b""), None);
        assert_eq!(parse_dynamic(b"\x7fELF"), None);
        assert_eq!(parse_dynamic(b"#!/bin/sh\necho hi\n"), None);
        assert_eq!(parse_dynamic(&[0xffu8; 4096]), None);
        let good = build(true, true, &["libpython3.8.so.1.0"], Some("/opt/py/lib"));
        for len in 0..good.len() {
            // Every truncation is either unreadable or, at worst, reads less; never a panic.
            if let Some(d) = parse_dynamic(&good[..len]) {
                assert!(d.needed.is_empty(), "{len}");
            }
        }
        // Every single-byte corruption of every field: no panic, no huge allocation.
        for at in 0..good.len() {
            for value in [0x00, 0x7f, 0x80, 0xff] {
                let mut bad = good.clone();
                bad[at] = value;
                let _ = parse_dynamic(&bad);
            }
        }
    }

    #[test]
    fn huge_counts_and_offsets_are_refused() {
        let mut bad = build(true, true, &["libpython3.8.so.1.0"], None);
        bad[0x20..0x28].copy_from_slice(&u64::MAX.to_le_bytes()); // e_phoff
        assert_eq!(parse_dynamic(&bad), None);
        let mut bad = build(true, true, &["libpython3.8.so.1.0"], None);
        bad[0x38..0x3a].copy_from_slice(&0xffffu16.to_le_bytes()); // e_phnum
        assert_eq!(parse_dynamic(&bad), None);
    }

    /// The real binary of this machine's `python3` (a pyenv shim is asked for it).
    fn machine_python() -> PathBuf {
        let out = std::process::Command::new("python3")
            .args(["-c", "import sys; print(sys.executable)"])
            .output()
            .expect("these tests need a python3 on PATH");
        let exe = String::from_utf8(out.stdout).unwrap();
        std::fs::canonicalize(exe.trim()).expect("python3's sys.executable exists")
    }

    /// Whatever this machine's Python is, its libpython (if any) is found through the dirs the
    /// reader reports, as the dynamic loader would find it.
    #[test]
    fn a_real_interpreter_is_read_like_the_loader_reads_it() {
        let path = machine_python();
        let d = read_dynamic(&path).expect("read the interpreter's ELF dynamic section");
        assert!(d.needed.iter().any(|n| n == "libc.so.6"), "{d:?}");
        match d.libpython() {
            Some(lib) => {
                let dirs = d.search_dirs(&path);
                let found = dirs.iter().any(|dir| dir.join(lib).exists())
                    || ["/usr/lib/x86_64-linux-gnu", "/usr/lib", "/usr/local/lib"]
                        .iter()
                        .any(|dir| Path::new(dir).join(lib).exists());
                assert!(found, "{lib:?} not in {dirs:?}");
            }
            // A static build (Debian's) needs no libpython at all.
            None => assert!(
                !d.needed
                    .iter()
                    .any(|n| n.to_string_lossy().starts_with("libpython")),
                "{d:?}"
            ),
        }
    }

    #[test]
    fn real_binary_truncated_or_not_a_file() {
        assert_eq!(read_dynamic(Path::new("/")), None);
        assert_eq!(read_dynamic(Path::new("/nonexistent/python")), None);
        let path = machine_python();
        let bytes = std::fs::read(&path).unwrap();
        for len in [0, 15, 16, 63, 64, 100, 1000, 4096, bytes.len() / 2] {
            let _ = parse_dynamic(&bytes[..len.min(bytes.len())]);
        }
        assert_eq!(parse_dynamic(&bytes), read_dynamic(&path));
    }
}
