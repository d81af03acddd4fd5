// Package protomarshal is a cqrs.Marshaler for Protocol Buffers, in a module of its own so
// that the protobuf runtime enters only the programs that use it.
//
// Commands and events are generated message types, registered and sent as pointers:
//
//	bus, _ := cqrs.NewCommandBus(cqrs.CommandBusConfig{Producer: p, Topic: "orders", Marshaler: protomarshal.Marshaler{}})
//	_ = cqrs.HandleCommand(bus, func(ctx context.Context, c *orderspb.PlaceOrder) error { ... })
//
// They travel under their Go type's name ("PlaceOrder"), as with JSON: two proto packages
// with a message of the same name cannot share a bus or processor (the second registration
// fails with cqrs.ErrDuplicateHandler).
package protomarshal

import (
	"fmt"
	"reflect"

	"google.golang.org/protobuf/proto"

	"github.com/courier-go/courier/cqrs"
)

// Marshaler encodes proto.Message values in the protobuf wire format. The zero value uses
// the default options.
type Marshaler struct {
	MarshalOptions   proto.MarshalOptions
	UnmarshalOptions proto.UnmarshalOptions
}

var _ cqrs.Marshaler = Marshaler{}

// Marshal encodes v, which must be a proto.Message.
func (m Marshaler) Marshal(v any) ([]byte, error) {
	msg, ok := v.(proto.Message)
	if !ok {
		return nil, fmt.Errorf("protomarshal: %T is not a proto.Message", v)
	}
	return m.MarshalOptions.Marshal(msg)
}

// Unmarshal decodes data into v: a proto.Message, or a pointer to a nil or non-nil
// proto.Message pointer (what a handler of *pb.X hands over), which it then allocates.
func (m Marshaler) Unmarshal(data []byte, v any) error {
	if msg, ok := v.(proto.Message); ok {
		return m.UnmarshalOptions.Unmarshal(data, msg)
	}
	rv := reflect.ValueOf(v)
	if rv.Kind() == reflect.Pointer && !rv.IsNil() && rv.Elem().Kind() == reflect.Pointer {
		elem := rv.Elem()
		if elem.IsNil() {
			elem.Set(reflect.New(elem.Type().Elem()))
		}
		if msg, ok := elem.Interface().(proto.Message); ok {
			return m.UnmarshalOptions.Unmarshal(data, msg)
		}
	}
	return fmt.Errorf("protomarshal: cannot decode into %T: want a proto.Message or a pointer to one", v)
}
