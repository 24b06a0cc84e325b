package wal

import (
	"bytes"
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
	var s scanner
	s.reset(bytes.NewReader(buf), int64(len(buf)))
	crc := w.mu.writtenCRC
	for s.off < int64(len(buf)) {
		off := s.off
		f, status, reason, err := s.next(crc)
		if err != nil || status != frameOK || f.typ == crcType {
			panic(fmt.Sprintf("wal: encoded batch does not decode at offset %d of %d: status %d %s %v", off, len(buf), status, reason, err))
		}
		crc = f.crc
	}
	if crc != w.mu.crc {
		panic(fmt.Sprintf("wal: encoded batch ends with CRC %08x, WAL expects %08x", crc, w.mu.crc))
	}
}
