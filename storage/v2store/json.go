package v2store

import (
	"strconv"
	"strings"
	"time"
	"unicode/utf8"
)

// MarshalJSON is encoding/json's encoding of the event, byte for byte
// (field order, omitempty, HTML-safe string escapes), without reflection:
// every v2 response and watch event is one.
func (e *Event) MarshalJSON() ([]byte, error) {
	return e.AppendJSON(make([]byte, 0, 256), "")
}

// AppendJSON appends the event's JSON to b with prefix taken off the
// front of every key (the v2 API's keys live under a namespace of the
// store).
func (e *Event) AppendJSON(b []byte, prefix string) ([]byte, error) {
	var err error
	b = append(b, `{"action":`...)
	b = appendString(b, e.Action)
	if e.Node != nil {
		b = append(b, `,"node":`...)
		if b, err = e.Node.appendJSON(b, prefix); err != nil {
			return nil, err
		}
	}
	if e.PrevNode != nil {
		b = append(b, `,"prevNode":`...)
		if b, err = e.PrevNode.appendJSON(b, prefix); err != nil {
			return nil, err
		}
	}
	if e.Refresh {
		b = append(b, `,"refresh":true`...)
	}
	return append(b, '}'), nil
}

// MarshalJSON is encoding/json's encoding of the node (see Event's).
func (n *NodeExtern) MarshalJSON() ([]byte, error) {
	return n.appendJSON(make([]byte, 0, 128), "")
}

func (n *NodeExtern) appendJSON(b []byte, prefix string) ([]byte, error) {
	b = append(b, '{')
	mark := len(b)
	field := func(name string) {
		if len(b) > mark {
			b = append(b, ',')
		}
		b = append(b, '"')
		b = append(b, name...)
		b = append(b, '"', ':')
	}
	if key := strings.TrimPrefix(n.Key, prefix); key != "" {
		field("key")
		b = appendString(b, key)
	}
	if n.Value != nil {
		field("value")
		b = appendString(b, *n.Value)
	}
	if n.Dir {
		field("dir")
		b = append(b, "true"...)
	}
	if n.Expiration != nil {
		field("expiration")
		t, err := appendTime(b, *n.Expiration)
		if err != nil {
			return nil, err
		}
		b = t
	}
	if n.TTL != 0 {
		field("ttl")
		b = strconv.AppendInt(b, n.TTL, 10)
	}
	if len(n.Nodes) > 0 {
		field("nodes")
		b = append(b, '[')
		for i, c := range n.Nodes {
			if i > 0 {
				b = append(b, ',')
			}
			if c == nil {
				b = append(b, "null"...)
				continue
			}
			var err error
			if b, err = c.appendJSON(b, prefix); err != nil {
				return nil, err
			}
		}
		b = append(b, ']')
	}
	if n.ModifiedIndex != 0 {
		field("modifiedIndex")
		b = strconv.AppendUint(b, n.ModifiedIndex, 10)
	}
	if n.CreatedIndex != 0 {
		field("createdIndex")
		b = strconv.AppendUint(b, n.CreatedIndex, 10)
	}
	return append(b, '}'), nil
}

// appendTime is time.Time's MarshalJSON.
func appendTime(b []byte, t time.Time) ([]byte, error) {
	j, err := t.MarshalJSON()
	if err != nil {
		return nil, err
	}
	return append(b, j...), nil
}

const hexDigits = "0123456789abcdef"

// appendString quotes s as encoding/json does with HTML escaping on:
// '"', '\\' and the short control escapes; other control characters,
// '<', '>' and '&' as \u00XX; invalid UTF-8 as \ufffd; U+2028 and
// U+2029 as \u2028 and \u2029.
func appendString(b []byte, s string) []byte {
	b = append(b, '"')
	start := 0
	for i := 0; i < len(s); {
		if c := s[i]; c < utf8.RuneSelf {
			if c >= 0x20 && c != '"' && c != '\\' && c != '<' && c != '>' && c != '&' {
				i++
				continue
			}
			b = append(b, s[start:i]...)
			switch c {
			case '\\', '"':
				b = append(b, '\\', c)
			case '\b':
				b = append(b, '\\', 'b')
			case '\f':
				b = append(b, '\\', 'f')
			case '\n':
				b = append(b, '\\', 'n')
			case '\r':
				b = append(b, '\\', 'r')
			case '\t':
				b = append(b, '\\', 't')
			default:
				b = append(b, '\\', 'u', '0', '0', hexDigits[c>>4], hexDigits[c&0xF])
			}
			i++
			start = i
			continue
		}
		r, size := utf8.DecodeRuneInString(s[i:])
		if r == utf8.RuneError && size == 1 {
			b = append(b, s[start:i]...)
			b = append(b, `\ufffd`...)
			i += size
			start = i
			continue
		}
		if r == '\u2028' || r == '\u2029' {
			b = append(b, s[start:i]...)
			b = append(b, '\\', 'u', '2', '0', '2', hexDigits[r&0xF])
			i += size
			start = i
			continue
		}
		i += size
	}
	b = append(b, s[start:]...)
	return append(b, '"')
}
