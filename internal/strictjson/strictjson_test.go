package strictjson

import (
	"errors"
	"testing"
)

func TestUnmarshal(t *testing.T) {
	type rec struct {
		A int `json:"a"`
	}
	for _, tt := range []struct {
		in string
		ok bool
	}{
		{`{"a":1}`, true},
		{` {"a":1} ` + "\n", true},
		{`{"a":1,"b":2}`, false},
		{`{"a":1} {"a":2}`, false},
		{`{"a":1} x`, false},
		{`{"a":"x"}`, false},
		{`{`, false},
		{``, false},
	} {
		var r rec
		err := Unmarshal([]byte(tt.in), &r)
		if (err == nil) != tt.ok {
			t.Errorf("Unmarshal(%q) = %v, want ok=%v", tt.in, err, tt.ok)
		}
		if tt.ok && r.A != 1 {
			t.Errorf("Unmarshal(%q) gave %+v", tt.in, r)
		}
	}
	var r rec
	if err := Unmarshal([]byte(`{"a":1} {}`), &r); !errors.Is(err, ErrTrailing) {
		t.Errorf("two values: %v, want ErrTrailing", err)
	}
}
