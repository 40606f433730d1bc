// ZIP archives of Blobs for "download all": the "stored" method (the results are JPEG/PNG/WebP, already
// compressed) and a Blob made of small header buffers and the result Blobs themselves, so the browser never
// copies every result into one buffer. No ZIP64: an archive stays under 4 GB and 65,535 files.
(function () {
  "use strict";

  const MAX_BYTES = 0xffffffff;
  const MAX_ENTRIES = 0xffff;
  const UTF8_NAMES = 0x0800;  // general purpose flag bit 11: the names are UTF-8

  const CRC_TABLE = new Uint32Array(256);
  for (let n = 0; n < 256; n += 1) {
    let c = n;
    for (let k = 0; k < 8; k += 1) c = c & 1 ? 0xedb88320 ^ (c >>> 1) : c >>> 1;
    CRC_TABLE[n] = c >>> 0;
  }

  /** CRC-32 of a Blob, read as a stream (a large result is never held twice). */
  async function crc32(blob) {
    const reader = blob.stream().getReader();
    let crc = 0xffffffff;
    for (;;) {
      const { done, value } = await reader.read();
      if (done) break;
      for (let i = 0; i < value.length; i += 1) crc = CRC_TABLE[(crc ^ value[i]) & 0xff] ^ (crc >>> 8);
    }
    return (crc ^ 0xffffffff) >>> 0;
  }

  /** A path safe to unpack: "/" separators, no empty, "." or ".." segments, no control characters. */
  function safePath(path) {
    const parts = String(path).replace(/\\/g, "/").split("/")
      .map((part) => part.replace(/[\u0000-\u001f\u007f]/g, "_").trim())
      .filter((part) => part && part !== "." && part !== "..");
    return parts.join("/") || "image";
  }

  /** `path`, or "name (2).ext", "name (3).ext"… when `taken` has it; compared without case, as Windows and
   *  macOS compare file names. Adds the name it returns to `taken`. */
  function uniquePath(path, taken) {
    const dot = path.lastIndexOf(".");
    const slash = path.lastIndexOf("/");
    const [stem, ext] = dot > slash + 1 ? [path.slice(0, dot), path.slice(dot)] : [path, ""];
    let candidate = path;
    for (let n = 2; taken.has(candidate.toLowerCase()); n += 1) candidate = `${stem} (${n})${ext}`;
    taken.add(candidate.toLowerCase());
    return candidate;
  }

  function dosDateTime(date) {
    const year = Math.min(Math.max(date.getFullYear(), 1980), 2107);
    return {
      time: (date.getHours() << 11) | (date.getMinutes() << 5) | (date.getSeconds() >> 1),
      date: ((year - 1980) << 9) | ((date.getMonth() + 1) << 5) | date.getDate(),
    };
  }

  // The fields a local header and its central directory record share, from "version needed" to "extra length".
  function common(view, at, entry, name, stamp) {
    view.setUint16(at, 20, true);  // version needed: 2.0
    view.setUint16(at + 2, UTF8_NAMES, true);
    view.setUint16(at + 4, 0, true);  // method: stored
    view.setUint16(at + 6, stamp.time, true);
    view.setUint16(at + 8, stamp.date, true);
    view.setUint32(at + 10, entry.crc, true);
    view.setUint32(at + 14, entry.blob.size, true);  // compressed size
    view.setUint32(at + 18, entry.blob.size, true);  // uncompressed size
    view.setUint16(at + 22, name.length, true);
    view.setUint16(at + 24, 0, true);  // extra field length
  }

  /** One ZIP Blob of `entries` ({path, blob, crc}), in their order; throws a RangeError past the format's limits. */
  function buildZip(entries, date = new Date()) {
    if (entries.length > MAX_ENTRIES) {
      throw new RangeError(`A ZIP holds at most ${MAX_ENTRIES} files: download the results in smaller folders.`);
    }
    const encoder = new TextEncoder();
    const stamp = dosDateTime(date);
    const parts = [];
    const central = [];
    let offset = 0;
    for (const entry of entries) {
      const name = encoder.encode(safePath(entry.path));
      const local = new DataView(new ArrayBuffer(30 + name.length));
      local.setUint32(0, 0x04034b50, true);
      common(local, 4, entry, name, stamp);
      new Uint8Array(local.buffer).set(name, 30);

      const record = new DataView(new ArrayBuffer(46 + name.length));
      record.setUint32(0, 0x02014b50, true);
      record.setUint16(4, 20, true);  // made by: 2.0, MS-DOS attributes (none)
      common(record, 6, entry, name, stamp);
      // comment length, disk number, internal and external attributes: all 0
      record.setUint32(42, offset, true);
      new Uint8Array(record.buffer).set(name, 46);

      parts.push(local.buffer, entry.blob);
      central.push(record.buffer);
      offset += local.byteLength + entry.blob.size;
      if (offset > MAX_BYTES) {
        throw new RangeError("The results are more than 4 GB together, too many for one ZIP: download them in smaller folders.");
      }
    }
    const centralSize = central.reduce((sum, buffer) => sum + buffer.byteLength, 0);
    if (offset + centralSize + 22 > MAX_BYTES) {
      throw new RangeError("The results are more than 4 GB together, too many for one ZIP: download them in smaller folders.");
    }
    const end = new DataView(new ArrayBuffer(22));
    end.setUint32(0, 0x06054b50, true);
    end.setUint16(8, entries.length, true);  // entries on this disk
    end.setUint16(10, entries.length, true);  // entries in all
    end.setUint32(12, centralSize, true);
    end.setUint32(16, offset, true);  // where the central directory starts
    return new Blob([...parts, ...central, end.buffer], { type: "application/zip" });
  }

  window.ColorizeZip = { crc32, buildZip, safePath, uniquePath };
})();
