package natsstore

import (
	"bytes"
	"encoding/base64"
	"encoding/binary"
	"encoding/json"
	"fmt"
	"time"

	"github.com/ssegate/ssegate/services/store"
)

// token makes s a single subject token and key part: as it is when it is
// made of letters, digits, '-' and '_', else '=' and its URL-safe base64,
// so that dots, wildcards and other bytes never change a subject's shape.
// A plain token never starts with '=', so no two names share one.
func token(s string) string {
	plain := s != ""
	for i := 0; plain && i < len(s); i++ {
		c := s[i]
		plain = 'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' || c == '-' || c == '_'
	}
	if plain {
		return s
	}
	return "=" + base64.RawURLEncoding.EncodeToString([]byte(s))
}

func untoken(t string) (string, error) {
	if len(t) == 0 || t[0] != '=' {
		return t, nil
	}
	b, err := base64.RawURLEncoding.DecodeString(t[1:])
	return string(b), err
}

// meta is a stream's metadata as the bucket keeps it, and the commit point
// of every Batch: a batch is applied when its meta is written, with a
// revision check, and its events ride along in the same value (pending)
// until they are published to the namespace's events stream, which every
// later events batch makes sure of before it commits. So a batch is one
// atomic write whatever fails after it, and the events stream never holds
// an event that was not committed.
type meta struct {
	Owner    string    `json:"owner,omitempty"`
	Attrs    []byte    `json:"attrs,omitempty"`
	First    uint64    `json:"first,omitempty"`
	Last     uint64    `json:"last,omitempty"`
	Finished bool      `json:"finished,omitempty"`
	Created  time.Time `json:"created"`
	Updated  time.Time `json:"updated"`
	// Inc tells this stream from an earlier one of the same name that was
	// removed; its events carry it.
	Inc string `json:"inc"`
	// Tail is the events stream sequence of the newest event before the
	// pending ones (0: none).
	Tail uint64 `json:"tail,omitempty"`
	// At is when the pending events were appended.
	At time.Time `json:"at,omitzero"`

	// pending are the events of the last batch that had events: ids
	// Last-len(pending)+1 to Last. Encoded after the JSON.
	pending [][]byte
}

// firstPending is the id of the first pending event (Last+1 with none).
func (m *meta) firstPending() uint64 { return m.Last - uint64(len(m.pending)) + 1 }

func (m *meta) stream(name string) store.Stream {
	return store.Stream{
		Name: name, Owner: m.Owner, Attrs: bytes.Clone(m.Attrs), First: m.First, Last: m.Last,
		Finished: m.Finished, Created: m.Created, Updated: m.Updated,
	}
}

// encode writes the JSON, a newline, then each pending event as its length
// (uvarint) and bytes: the events, most of the value, stay raw.
func (m *meta) encode() []byte {
	j, _ := json.Marshal(m) // strings, bytes, numbers and times
	n := len(j) + 1
	for _, e := range m.pending {
		n += binary.MaxVarintLen64 + len(e)
	}
	out := append(make([]byte, 0, n), j...)
	out = append(out, '\n')
	for _, e := range m.pending {
		out = binary.AppendUvarint(out, uint64(len(e)))
		out = append(out, e...)
	}
	return out
}

func decodeMeta(raw []byte) (*meta, error) {
	i := bytes.IndexByte(raw, '\n')
	if i < 0 {
		return nil, fmt.Errorf("natsstore: corrupt stream metadata")
	}
	m := &meta{}
	if err := json.Unmarshal(raw[:i], m); err != nil {
		return nil, fmt.Errorf("natsstore: stream metadata: %w", err)
	}
	for rest := raw[i+1:]; len(rest) > 0; {
		n, k := binary.Uvarint(rest)
		if k <= 0 || uint64(len(rest)-k) < n {
			return nil, fmt.Errorf("natsstore: corrupt pending events")
		}
		m.pending = append(m.pending, rest[k:k+int(n)])
		rest = rest[k+int(n):]
	}
	if uint64(len(m.pending)) > m.Last {
		return nil, fmt.Errorf("natsstore: %d pending events after %d", len(m.pending), m.Last)
	}
	return m, nil
}

// size is m's size in memory, roughly.
func (m *meta) size() int {
	n := len(m.Attrs) + 256
	for _, e := range m.pending {
		n += len(e)
	}
	return n
}
