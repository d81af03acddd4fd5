package pulsartest

import (
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
	"io"

	"google.golang.org/protobuf/proto"

	"github.com/courier-go/courier/pulsar/pulsartest/internal/wire"
)

// Frames are big-endian: [totalSize u32][cmdSize u32][BaseCommand] and, for
// SEND and MESSAGE, the payload [0x0e01][crc32c u32][metaSize u32][metadata][body].
const (
	magicCRC32C   = 0x0e01
	magicBrokerMD = 0x0e02
	frameOverhead = 10 << 10 // room for the command around a maximal message
)

var crcTable = crc32.MakeTable(crc32.Castagnoli)

// readFrame reads one frame and returns its command and the raw payload that
// follows it (nil for simple commands).
func readFrame(r io.Reader, maxFrame int) (*wire.BaseCommand, []byte, error) {
	var hdr [4]byte
	if _, err := io.ReadFull(r, hdr[:]); err != nil {
		return nil, nil, err
	}
	total := binary.BigEndian.Uint32(hdr[:])
	if total < 4 || int(total) > maxFrame {
		return nil, nil, fmt.Errorf("frame size %d out of range", total)
	}
	buf := make([]byte, total)
	if _, err := io.ReadFull(r, buf); err != nil {
		return nil, nil, err
	}
	cmdSize := binary.BigEndian.Uint32(buf)
	if cmdSize > total-4 {
		return nil, nil, fmt.Errorf("command size %d exceeds frame size %d", cmdSize, total)
	}
	cmd := &wire.BaseCommand{}
	if err := proto.Unmarshal(buf[4:4+cmdSize], cmd); err != nil {
		return nil, nil, fmt.Errorf("decode command: %w", err)
	}
	var payload []byte
	if rest := buf[4+cmdSize:]; len(rest) > 0 {
		payload = rest
	}
	return cmd, payload, nil
}

// encodeFrame builds a frame from cmd and an optional payload, which is
// appended verbatim (it already carries its magic number and checksum).
func encodeFrame(cmd *wire.BaseCommand, payload []byte) ([]byte, error) {
	b, err := proto.Marshal(cmd)
	if err != nil {
		return nil, fmt.Errorf("encode %s: %w", cmd.GetType(), err)
	}
	out := make([]byte, 8, 8+len(b)+len(payload))
	binary.BigEndian.PutUint32(out[0:], uint32(4+len(b)+len(payload)))
	binary.BigEndian.PutUint32(out[4:], uint32(len(b)))
	out = append(out, b...)
	return append(out, payload...), nil
}

// parsedPayload is what the broker needs from a SEND payload.
type parsedPayload struct {
	stored []byte // from the checksum magic to the end, sent back to consumers untouched
	meta   *wire.MessageMetadata
}

var errChecksum = errors.New("checksum mismatch")

// parsePayload checks a SEND payload's checksum and decodes its metadata.
func parsePayload(p []byte) (parsedPayload, error) {
	// A broker-entry-metadata section may precede the checksum; skip it.
	if len(p) >= 6 && binary.BigEndian.Uint16(p) == magicBrokerMD {
		n := int(binary.BigEndian.Uint32(p[2:]))
		if 6+n > len(p) {
			return parsedPayload{}, errors.New("truncated broker entry metadata")
		}
		p = p[6+n:]
	}
	if len(p) < 10 || binary.BigEndian.Uint16(p) != magicCRC32C {
		return parsedPayload{}, errors.New("payload without checksum magic")
	}
	want := binary.BigEndian.Uint32(p[2:])
	if got := crc32.Checksum(p[6:], crcTable); got != want {
		return parsedPayload{}, errChecksum
	}
	metaSize := int(binary.BigEndian.Uint32(p[6:]))
	if 10+metaSize > len(p) {
		return parsedPayload{}, errors.New("truncated message metadata")
	}
	meta := &wire.MessageMetadata{}
	if err := proto.Unmarshal(p[10:10+metaSize], meta); err != nil {
		return parsedPayload{}, fmt.Errorf("decode message metadata: %w", err)
	}
	return parsedPayload{stored: p, meta: meta}, nil
}
