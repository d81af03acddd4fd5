package pulsartest

import (
	"bufio"
	"encoding/binary"
	"hash/crc32"
	"net"
	"testing"
	"time"

	"google.golang.org/protobuf/proto"

	"github.com/courier-go/courier/pulsar/pulsartest/internal/wire"
)

// rawClient speaks the protocol by hand, for what the real client never sends.
type rawClient struct {
	t  *testing.T
	nc net.Conn
	r  *bufio.Reader
}

func dialRaw(t *testing.T, s *Server) *rawClient {
	t.Helper()
	nc, err := net.Dial("tcp", s.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = nc.Close() })
	_ = nc.SetDeadline(time.Now().Add(10 * time.Second))
	return &rawClient{t: t, nc: nc, r: bufio.NewReader(nc)}
}

func (c *rawClient) write(cmd *wire.BaseCommand, payload []byte) {
	c.t.Helper()
	f, err := encodeFrame(cmd, payload)
	if err != nil {
		c.t.Fatal(err)
	}
	if _, err := c.nc.Write(f); err != nil {
		c.t.Fatal(err)
	}
}

func (c *rawClient) read() *wire.BaseCommand {
	c.t.Helper()
	cmd, _, err := readFrame(c.r, 1<<20)
	if err != nil {
		c.t.Fatalf("read: %v", err)
	}
	return cmd
}

// payload builds [magic][crc][metaSize][meta][body], with a wrong checksum if asked.
func payload(t *testing.T, body []byte, corrupt bool) []byte {
	meta, err := proto.Marshal(&wire.MessageMetadata{ProducerName: proto.String("p"), SequenceId: proto.Uint64(0), PublishTime: proto.Uint64(1)})
	if err != nil {
		t.Fatal(err)
	}
	rest := binary.BigEndian.AppendUint32(nil, uint32(len(meta)))
	rest = append(append(rest, meta...), body...)
	sum := crc32.Checksum(rest, crcTable)
	if corrupt {
		sum++
	}
	out := binary.BigEndian.AppendUint16(nil, magicCRC32C)
	out = binary.BigEndian.AppendUint32(out, sum)
	return append(out, rest...)
}

func TestRawProtocol(t *testing.T) {
	s, err := NewServer()
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	c := dialRaw(t, s)
	c.write(&wire.BaseCommand{Type: wire.BaseCommand_CONNECT.Enum(), Connect: &wire.CommandConnect{ClientVersion: proto.String("raw"), ProtocolVersion: proto.Int32(99)}}, nil)
	if got := c.read(); got.GetType() != wire.BaseCommand_CONNECTED || got.GetConnected().GetProtocolVersion() != maxProtocolVers {
		t.Fatalf("CONNECT answered with %v", got)
	}
	c.write(&wire.BaseCommand{Type: wire.BaseCommand_PRODUCER.Enum(), Producer: &wire.CommandProducer{
		Topic: proto.String("raw"), ProducerId: proto.Uint64(1), RequestId: proto.Uint64(1),
	}}, nil)
	if got := c.read(); got.GetType() != wire.BaseCommand_PRODUCER_SUCCESS || got.GetProducerSuccess().GetProducerName() == "" {
		t.Fatalf("PRODUCER answered with %v", got)
	}
	send := func(seq uint64, corrupt bool) *wire.BaseCommand {
		c.write(&wire.BaseCommand{Type: wire.BaseCommand_SEND.Enum(), Send: &wire.CommandSend{
			ProducerId: proto.Uint64(1), SequenceId: proto.Uint64(seq),
		}}, payload(t, []byte("body"), corrupt))
		return c.read()
	}
	if got := send(0, true); got.GetType() != wire.BaseCommand_SEND_ERROR || got.GetSendError().GetError() != wire.ServerError_ChecksumError {
		t.Fatalf("corrupt SEND answered with %v", got)
	}
	if got := send(1, false); got.GetType() != wire.BaseCommand_SEND_RECEIPT || got.GetSendReceipt().GetSequenceId() != 1 {
		t.Fatalf("SEND answered with %v", got)
	}
	if n := s.MessageCount("raw"); n != 1 {
		t.Fatalf("stored %d messages, want only the intact one", n)
	}
	// A command the server does not know closes the connection.
	c.write(&wire.BaseCommand{Type: wire.BaseCommand_NEW_TXN.Enum()}, nil)
	if _, _, err := readFrame(c.r, 1<<20); err == nil {
		t.Fatal("connection still open after an unsupported command")
	}
}

func TestKeyHashSpreads(t *testing.T) {
	seen := map[bool]int{}
	for i := range 64 {
		h := keyHash(string(rune('a' + i%26)))
		if h >= keyHashRange {
			t.Fatalf("hash %d out of range", h)
		}
		seen[h < keyHashRange/2]++
	}
	if seen[true] == 0 || seen[false] == 0 {
		t.Fatalf("keys all in one half of the hash range: %v", seen)
	}
}
