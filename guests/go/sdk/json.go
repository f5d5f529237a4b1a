// Typed messages: JSON in and out of `handle`, calls and casts, as Go
// values of the caller's types.

package arbor

import (
	"bytes"
	"encoding/json"
	"fmt"
)

// HandleJSON runs `handle` as the `handle` export with typed messages:
// each message is read as JSON into a Req, and the Resp is written as
// JSON. A message that does not read is an error reply `not JSON: ...`
// (the child keeps running); an error from `handle` is an error reply
// with its text; a panic is a crash.
func HandleJSON[Req, Resp any](message []byte, handle func(request Req) (Resp, error)) HandleResult {
	return Handle(message, func(message []byte) ([]byte, error) {
		var request Req
		if err := Decode(message, &request); err != nil {
			return nil, err
		}
		reply, err := handle(request)
		if err != nil {
			return nil, err
		}
		return Encode(reply), nil
	})
}

// Decode reads message as JSON into the value `into` points to; an error
// reads `not JSON: ...`. Unknown object fields are ignored and missing
// ones keep their values, as encoding/json does.
func Decode(message []byte, into any) error {
	if err := json.Unmarshal(message, into); err != nil {
		return fmt.Errorf("not JSON: %w", err)
	}
	return nil
}

// Encode writes value as compact JSON (no HTML escaping, no newline). A
// value JSON cannot hold (a channel, a function) panics: a bug, a crash.
func Encode(value any) []byte {
	var out bytes.Buffer
	encoder := json.NewEncoder(&out)
	encoder.SetEscapeHTML(false)
	if err := encoder.Encode(value); err != nil {
		panic(fmt.Sprintf("arbor.Encode: %v", err))
	}
	return bytes.TrimSuffix(out.Bytes(), []byte("\n"))
}

// CallJSON sends request as JSON to the child `name` and reads its reply
// as JSON into a Resp. A failed call is a *[CallError]; a reply that does
// not read is a *[DecodeError].
func CallJSON[Resp any](name string, request any) (Resp, error) {
	var reply Resp
	raw, err := Call(name, Encode(request))
	if err != nil {
		return reply, err
	}
	if err := json.Unmarshal(raw, &reply); err != nil {
		return reply, &DecodeError{Reply: raw, Err: err}
	}
	return reply, nil
}

// CastJSON queues value as JSON for the child `name`. The error is a
// *[CallError].
func CastJSON(name string, value any) error {
	return Cast(name, Encode(value))
}

// DecodeError is a reply to [CallJSON] that is not JSON of the expected
// type: the call itself succeeded.
type DecodeError struct {
	Reply []byte
	Err   error
}

func (e *DecodeError) Error() string {
	return fmt.Sprintf("the reply does not read: %v", e.Err)
}

func (e *DecodeError) Unwrap() error { return e.Err }
