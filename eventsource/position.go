package eventsource

import (
	"encoding/binary"
	"encoding/hex"
	"fmt"
)

// Position is a place in a store's global order. The zero Position is before the first
// event. Positions are comparable with == and ordered by [Position.Compare]; they are
// opaque to users and meaningful only to the store that made them. They survive a round trip
// through MarshalText/UnmarshalText (or MarshalBinary/UnmarshalBinary), so a reader can keep
// one as a checkpoint and resume from it.
type Position struct {
	major, minor uint64
}

// NewPosition makes a Position from its two parts, compared major first. It is for backends:
// memstore and redisstore use (0, sequence); pgstore uses (transaction ID, sequence).
func NewPosition(major, minor uint64) Position { return Position{major, minor} }

// Parts returns the two parts NewPosition took. It is for backends.
func (p Position) Parts() (major, minor uint64) { return p.major, p.minor }

// IsZero reports whether p is the position before the first event.
func (p Position) IsZero() bool { return p == Position{} }

// Compare returns -1 if p is before q, 0 if they are equal and +1 if p is after q.
func (p Position) Compare(q Position) int {
	switch {
	case p.major < q.major:
		return -1
	case p.major > q.major:
		return 1
	case p.minor < q.minor:
		return -1
	case p.minor > q.minor:
		return 1
	}
	return 0
}

// String returns the text form, as MarshalText does: "<major hex>-<minor hex>".
func (p Position) String() string {
	return fmt.Sprintf("%016x-%016x", p.major, p.minor)
}

// MarshalText returns the text form of p.
func (p Position) MarshalText() ([]byte, error) { return []byte(p.String()), nil }

// UnmarshalText sets p from the text form MarshalText returns.
func (p *Position) UnmarshalText(b []byte) error {
	if len(b) != 33 || b[16] != '-' {
		return fmt.Errorf("eventsource: position %.40q is not <16 hex digits>-<16 hex digits>", b)
	}
	var raw [16]byte
	if _, err := hex.Decode(raw[:8], b[:16]); err != nil {
		return fmt.Errorf("eventsource: position %q: %w", b, err)
	}
	if _, err := hex.Decode(raw[8:], b[17:]); err != nil {
		return fmt.Errorf("eventsource: position %q: %w", b, err)
	}
	return p.UnmarshalBinary(raw[:])
}

// MarshalBinary returns p as 16 bytes.
func (p Position) MarshalBinary() ([]byte, error) {
	b := make([]byte, 16)
	binary.BigEndian.PutUint64(b, p.major)
	binary.BigEndian.PutUint64(b[8:], p.minor)
	return b, nil
}

// UnmarshalBinary sets p from the 16 bytes MarshalBinary returns.
func (p *Position) UnmarshalBinary(b []byte) error {
	if len(b) != 16 {
		return fmt.Errorf("eventsource: binary position is %d bytes, want 16", len(b))
	}
	p.major = binary.BigEndian.Uint64(b)
	p.minor = binary.BigEndian.Uint64(b[8:])
	return nil
}

// ParsePosition returns the Position whose text form is s.
func ParsePosition(s string) (Position, error) {
	var p Position
	err := p.UnmarshalText([]byte(s))
	return p, err
}
