// Package strictjson reads the small JSON files Ferry keeps in a home: one
// value, no field it does not know, nothing after it.
package strictjson

import (
	"bytes"
	"encoding/json"
	"errors"
)

// ErrTrailing: more than one JSON value.
var ErrTrailing = errors.New("trailing data after the JSON value")

// Unmarshal decodes b into v like json.Unmarshal, but refuses fields that v
// does not have and anything after the one value.
func Unmarshal(b []byte, v any) error {
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		return err
	}
	if dec.More() {
		return ErrTrailing
	}
	return nil
}
