// The media type `fingerprint.kinds.sniff` tells from the same bytes (each kind's magic bytes: images, then videos,
// then sound), so that the statement signed in the page names the type the registry will find. Bytes no kind claims
// keep the browser's guess, and the server refuses them with its reason. tests/api/test_browser.py holds this to the
// server's answers for every container the registry takes.
"use strict";
window.provregMediaType = (function () {
  const AVIF = ["avif", "avis"];
  const HEIF = ["heic", "heix", "hevc", "hevx", "heim", "heis", "hevm", "hevs", "mif1", "msf1"];
  const MP4 = ["isom", "iso2", "iso4", "iso5", "iso6", "mp41", "mp42", "avc1", "M4V ", "dash", "qt  "];
  const SOUND_BRANDS = ["M4A ", "M4B ", "M4P ", "F4A ", "F4B "]; // fingerprint/isobmff.py
  const OGG_SOUND = ["OpusHead", "\x01vorbis", "\x7fFLAC"];
  const MAX_BOXES = 4096; // box headers read per file, as isobmff._MAX_BOXES
  const MAX_ELEMENTS = 4096; // element headers, as matroska._MAX_ELEMENTS
  const MAX_TRACKS = 64;

  const ascii = (bytes, from, to) => String.fromCharCode(...bytes.subarray(from, Math.min(to, bytes.length)));

  // (payload start, payload end) of the boxes of type `kind` directly inside [start, end), as isobmff._children.
  function children(bytes, start, end, kind, budget) {
    const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
    const found = [];
    let at = start;
    while (at + 8 <= end && budget.boxes < MAX_BOXES) {
      budget.boxes += 1;
      let size = view.getUint32(at);
      let header = 8;
      if (size === 1) {
        if (at + 16 > end) break;
        size = Number(view.getBigUint64(at + 8));
        header = 16;
      } else if (size === 0) {
        size = end - at;
      }
      if (size < header || at + size > end) break;
      if (ascii(bytes, at + 4, at + 8) === kind) found.push([at + header, at + size]);
      at += size;
    }
    return found;
  }
  const child = (bytes, [start, end], kind, budget) => children(bytes, start, end, kind, budget)[0] || null;

  function trackHandlers(bytes) {
    const moov = child(bytes, [0, bytes.length], "moov", { boxes: 0 });
    if (!moov) return null;
    const handlers = [];
    const budget = { boxes: 0 };
    for (const trak of children(bytes, moov[0], moov[1], "trak", budget)) {
      const mdia = child(bytes, trak, "mdia", budget);
      const hdlr = mdia && child(bytes, mdia, "hdlr", budget);
      if (hdlr && hdlr[1] - hdlr[0] >= 12) handlers.push(ascii(bytes, hdlr[0] + 8, hdlr[0] + 12));
      if (handlers.length >= MAX_TRACKS) break;
    }
    return handlers;
  }

  // An `ftyp` file with sound tracks and no video track is sound; with no readable movie box, its brand decides.
  function soundOnly(bytes) {
    if (bytes.length < 12 || ascii(bytes, 4, 8) !== "ftyp") return false;
    const handlers = trackHandlers(bytes);
    if (handlers === null) return SOUND_BRANDS.includes(ascii(bytes, 8, 12));
    return handlers.includes("soun") && !handlers.includes("vide");
  }

  // A WebM/Matroska file's track types from its EBML element headers, as fingerprint/matroska.py reads them: the
  // first Tracks element of the Segment, unless a Cluster comes first. Lazy, as there: a budget bounds the walk.
  const SEGMENT = 0x18538067;
  const TRACKS = 0x1654ae6b;
  const TRACK_ENTRY = 0xae;
  const TRACK_TYPE = 0x83;
  const CLUSTER = 0x1f43b675;
  const UNKNOWN = -1; // an element of "unknown" size: it runs to the end of its parent

  function vint(bytes, at, end, keepMarker) {
    if (at >= end || bytes[at] === 0) return null;
    const length = 8 - Math.floor(Math.log2(bytes[at]));
    if (at + length > end || (keepMarker && length > 4)) return null;
    const marker = 2 ** (8 - length);
    let value = keepMarker ? bytes[at] : bytes[at] & (marker - 1);
    let ones = keepMarker || value === marker - 1;
    for (let i = at + 1; i < at + length; i++) {
      value = value * 256 + bytes[i];
      ones = ones && bytes[i] === 0xff;
    }
    return [keepMarker || !ones ? value : UNKNOWN, at + length];
  }

  function* elements(bytes, start, end, budget) {
    let at = start;
    while (at < end && budget.elements < MAX_ELEMENTS) {
      budget.elements += 1;
      const id = vint(bytes, at, end, true);
      const size = id && vint(bytes, id[1], end, false);
      if (!size) return;
      at = size[1];
      const payloadEnd = size[0] === UNKNOWN ? end : Math.min(end, at + size[0]);
      yield [id[0], at, payloadEnd];
      if (size[0] === UNKNOWN) return;
      at = payloadEnd;
    }
  }

  function trackTypes(bytes) {
    if (ascii(bytes, 0, 4) !== "\x1a\x45\xdf\xa3") return null;
    const budget = { elements: 0 };
    for (const [id, start, end] of elements(bytes, 0, bytes.length, budget)) {
      if (id !== SEGMENT) continue;
      for (const [child, childStart, childEnd] of elements(bytes, start, end, budget)) {
        if (child === TRACKS) return tracks(bytes, childStart, childEnd, budget);
        if (child === CLUSTER) return null;
      }
      return null;
    }
    return null;
  }

  function tracks(bytes, start, end, budget) {
    const types = [];
    for (const [id, entryStart, entryEnd] of elements(bytes, start, end, budget)) {
      if (id !== TRACK_ENTRY) continue;
      for (const [field, from, to] of elements(bytes, entryStart, entryEnd, budget)) {
        if (field === TRACK_TYPE && to - from > 0 && to - from <= 8) {
          types.push(bytes.subarray(from, to).reduce((value, byte) => value * 256 + byte, 0));
          break;
        }
      }
      if (types.length >= MAX_TRACKS) break;
    }
    return types;
  }

  function matroskaSound(bytes) {
    const types = trackTypes(bytes);
    return types !== null && types.includes(2) && !types.includes(1); // 2: sound, 1: video
  }

  function brands(bytes) {
    const box = new DataView(bytes.buffer, bytes.byteOffset, 4).getUint32(0);
    const found = [ascii(bytes, 8, 12)];
    for (let i = 16; i + 4 <= Math.min(box, bytes.length, 64); i += 4) found.push(ascii(bytes, i, i + 4));
    return found;
  }

  function image(bytes) {
    if (bytes[0] === 0xff && bytes[1] === 0xd8 && bytes[2] === 0xff) return "image/jpeg";
    if (ascii(bytes, 0, 8) === "\x89PNG\r\n\x1a\n") return "image/png";
    if (ascii(bytes, 0, 4) === "RIFF" && ascii(bytes, 8, 12) === "WEBP") return "image/webp";
    if (bytes.length >= 16 && ascii(bytes, 4, 8) === "ftyp") {
      const found = brands(bytes);
      if (found.some((b) => AVIF.includes(b))) return "image/avif";
      if (found.some((b) => HEIF.includes(b))) return "image/heic";
    }
    return null;
  }

  function video(bytes) {
    if (ascii(bytes, 0, 4) === "\x1a\x45\xdf\xa3") {
      if (matroskaSound(bytes)) return null;
      return ascii(bytes, 0, 64).includes("webm") ? "video/webm" : "video/x-matroska";
    }
    if (bytes.length >= 12 && ascii(bytes, 4, 8) === "ftyp" && !soundOnly(bytes)) {
      if (ascii(bytes, 8, 12) === "qt  ") return "video/quicktime";
      if (brands(bytes).some((b) => MP4.includes(b))) return "video/mp4";
    }
    return null;
  }

  // MPEG audio or ADTS AAC after any ID3v2 tags: the frame sync tells which (the server also checks a second frame).
  function mpegAudio(bytes) {
    let at = 0;
    while (ascii(bytes, at, at + 3) === "ID3" && bytes.length >= at + 10) {
      const size = (bytes[at + 6] << 21) | (bytes[at + 7] << 14) | (bytes[at + 8] << 7) | bytes[at + 9];
      at += 10 + size + (bytes[at + 5] & 0x10 ? 10 : 0);
    }
    if (bytes[at] !== 0xff || (bytes[at + 1] & 0xe0) !== 0xe0) return null;
    return (bytes[at + 1] & 0xf6) === 0xf0 ? "audio/aac" : "audio/mpeg";
  }

  function sound(bytes) {
    if (ascii(bytes, 0, 4) === "RIFF" && ascii(bytes, 8, 12) === "WAVE") return "audio/wav";
    if (ascii(bytes, 0, 4) === "fLaC") return "audio/flac";
    if (ascii(bytes, 0, 4) === "OggS") return OGG_SOUND.some((c) => ascii(bytes, 28, 64).includes(c)) ? "audio/ogg" : null;
    if (soundOnly(bytes)) return "audio/mp4";
    if (matroskaSound(bytes)) return ascii(bytes, 0, 64).includes("webm") ? "audio/webm" : "audio/x-matroska";
    return mpegAudio(bytes);
  }

  return (bytes, fallback) => image(bytes) || video(bytes) || sound(bytes) || fallback || "application/octet-stream";
})();
