package utl

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strings"

	"github.com/basaltkv/basalt/ctl"
	"github.com/basaltkv/basalt/pkg/humanize"
	"github.com/basaltkv/basalt/server/datadir"
)

// printer shows what snapshot status and hashkv report in one --write-out
// format. As in etcdutl, protobuf has no message for either and is
// refused; an unknown format is refused before anything is read.
type printer interface {
	DBStatus(datadir.DBStatus) error
	DBHashKV(datadir.DBHashKV) error
}

func (e *env) printer() (printer, error) {
	switch e.writeOut {
	case "simple":
		return simplePrinter{e.stdout}, nil
	case "fields":
		return fieldsPrinter{e.stdout}, nil
	case "json":
		return jsonPrinter{e.stdout, e.stderr}, nil
	case "table":
		return tablePrinter{e.stdout}, nil
	case "protobuf":
		return unsupportedPrinter("protobuf"), nil
	}
	return nil, fail(ctl.ExitBadFeature, errors.New("unsupported output format"))
}

func statusRows(s datadir.DBStatus) (hdr []string, rows [][]string) {
	hdr = []string{"hash", "revision", "total keys", "total size", "version"}
	rows = [][]string{{
		fmt.Sprintf("%x", s.Hash),
		fmt.Sprint(s.Revision),
		fmt.Sprint(s.TotalKey),
		humanize.Bytes(uint64(s.TotalSize)),
		s.Version,
	}}
	return hdr, rows
}

func hashKVRows(h datadir.DBHashKV) (hdr []string, rows [][]string) {
	hdr = []string{"hash", "hash revision", "compact revision"}
	rows = [][]string{{fmt.Sprint(h.Hash), fmt.Sprint(h.HashRevision), fmt.Sprint(h.CompactRevision)}}
	return hdr, rows
}

type simplePrinter struct{ out io.Writer }

func (p simplePrinter) rows(rows [][]string) {
	for _, r := range rows {
		fmt.Fprintln(p.out, strings.Join(r, ", "))
	}
}

func (p simplePrinter) DBStatus(s datadir.DBStatus) error {
	_, rows := statusRows(s)
	p.rows(rows)
	return nil
}

func (p simplePrinter) DBHashKV(h datadir.DBHashKV) error {
	_, rows := hashKVRows(h)
	p.rows(rows)
	return nil
}

type tablePrinter struct{ out io.Writer }

func (p tablePrinter) DBStatus(s datadir.DBStatus) error {
	hdr, rows := statusRows(s)
	ctl.RenderTable(p.out, hdr, rows)
	return nil
}

func (p tablePrinter) DBHashKV(h datadir.DBHashKV) error {
	hdr, rows := hashKVRows(h)
	ctl.RenderTable(p.out, hdr, rows)
	return nil
}

// fieldsPrinter prints `"Name" : value` lines, numbers in decimal.
type fieldsPrinter struct{ out io.Writer }

func (p fieldsPrinter) DBStatus(s datadir.DBStatus) error {
	fmt.Fprintln(p.out, `"Hash" :`, s.Hash)
	fmt.Fprintln(p.out, `"Revision" :`, s.Revision)
	fmt.Fprintln(p.out, `"Keys" :`, s.TotalKey)
	fmt.Fprintln(p.out, `"Size" :`, s.TotalSize)
	fmt.Fprintln(p.out, `"Version" :`, s.Version)
	return nil
}

func (p fieldsPrinter) DBHashKV(h datadir.DBHashKV) error {
	fmt.Fprintln(p.out, `"Hash" :`, h.Hash)
	fmt.Fprintln(p.out, `"Hash revision" :`, h.HashRevision)
	fmt.Fprintln(p.out, `"Compact revision" :`, h.CompactRevision)
	return nil
}

// jsonPrinter prints one line of JSON with etcdutl's field names (the
// json tags of datadir.DBStatus and datadir.DBHashKV).
type jsonPrinter struct{ out, errOut io.Writer }

func (p jsonPrinter) write(v any) error {
	b, err := json.Marshal(v)
	if err != nil {
		fmt.Fprintln(p.errOut, err)
		return nil
	}
	fmt.Fprintln(p.out, string(b))
	return nil
}

func (p jsonPrinter) DBStatus(s datadir.DBStatus) error { return p.write(s) }
func (p jsonPrinter) DBHashKV(h datadir.DBHashKV) error { return p.write(h) }

type unsupportedPrinter string

func (p unsupportedPrinter) err() error {
	return fail(ctl.ExitBadFeature, errors.New(string(p)+" not supported as output format"))
}

func (p unsupportedPrinter) DBStatus(datadir.DBStatus) error { return p.err() }
func (p unsupportedPrinter) DBHashKV(datadir.DBHashKV) error { return p.err() }
