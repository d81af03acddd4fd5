package pulsartest

import (
	"bytes"
	"encoding/binary"
	"hash/crc32"
	"testing"

	"google.golang.org/protobuf/proto"

	"github.com/courier-go/courier/pulsar/pulsartest/internal/wire"
)

// FuzzReadFrame reads arbitrary bytes as the frames a client sends, and parses any payload
// as a SEND's: never a panic, and a frame read is a command (or an error), never both nil.
func FuzzReadFrame(f *testing.F) {
	ping, err := encodeFrame(&wire.BaseCommand{Type: wire.BaseCommand_PING.Enum(), Ping: &wire.CommandPing{}}, nil)
	if err != nil {
		f.Fatal(err)
	}
	f.Add(ping)
	meta, err := proto.Marshal(&wire.MessageMetadata{ProducerName: proto.String("p"), SequenceId: proto.Uint64(0), PublishTime: proto.Uint64(1)})
	if err != nil {
		f.Fatal(err)
	}
	var p []byte
	p = binary.BigEndian.AppendUint16(p, magicCRC32C)
	body := binary.BigEndian.AppendUint32(nil, uint32(len(meta)))
	body = append(append(body, meta...), "hello"...)
	p = binary.BigEndian.AppendUint32(p, crc32.Checksum(body, crcTable))
	p = append(p, body...)
	send, err := encodeFrame(&wire.BaseCommand{Type: wire.BaseCommand_SEND.Enum(),
		Send: &wire.CommandSend{ProducerId: proto.Uint64(1), SequenceId: proto.Uint64(0)}}, p)
	if err != nil {
		f.Fatal(err)
	}
	f.Add(send)
	f.Add([]byte{0, 0, 0, 4, 0, 0, 0, 9})
	f.Add([]byte{0xff, 0xff, 0xff, 0xff})
	f.Fuzz(func(t *testing.T, data []byte) {
		r := bytes.NewReader(data)
		for {
			cmd, payload, err := readFrame(r, 1<<16)
			if err != nil {
				return
			}
			if cmd == nil {
				t.Fatal("readFrame returned neither a command nor an error")
			}
			if payload != nil {
				if pp, err := parsePayload(payload); err == nil && pp.meta == nil {
					t.Fatal("parsePayload returned neither metadata nor an error")
				}
			}
		}
	})
}
