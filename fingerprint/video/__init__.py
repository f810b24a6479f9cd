"""Video, pure: `decode` (PyAV under caps), `track` (PDQ per sampled frame), `align` (where a clip sits in an
original, at what speed, and which spans differ), `match` (one clip against one original), `timeline` (the picture),
`wholehash` (`videohash` as a lookup key). `fingerprint.kinds.video` puts them behind `MediaKind`."""
