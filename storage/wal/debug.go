package wal

import (
	"fmt"
	"os"
)

// checkInvariants turns on checks too slow for production: every batch of
// records is decoded again before it is written. Tests turn it on; so
// does BASALT_STORAGE_CHECKS=1.
var checkInvariants = os.Getenv("BASALT_STORAGE_CHECKS") != ""

// checkFramesLocked panics unless buf decodes as whole valid records
// chained from the CRC of the last record written to the tail to w.mu.crc.
func (w *WAL) checkFramesLocked(buf []byte) {
	crc := w.mu.writtenCRC
	for off := 0; off < len(buf); {
		f, status, reason := decodeFrame(buf[off:], crc)
		if status != frameOK || f.typ == crcType {
			panic(fmt.Sprintf("wal: encoded batch does not decode at offset %d of %d: status %d %s", off, len(buf), status, reason))
		}
		crc = f.crc
		off += f.size
	}
	if crc != w.mu.crc {
		panic(fmt.Sprintf("wal: encoded batch ends with CRC %08x, WAL expects %08x", crc, w.mu.crc))
	}
}
