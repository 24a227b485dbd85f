package supervisor

// Tests of api.go's unexported parts. The API's own tests, over its
// client and mock.Backend, are in api_test.go (package supervisor_test).

import (
	"errors"
	"fmt"
	"testing"

	"github.com/tendhq/tend/units"
)

func TestErrorStatus(t *testing.T) {
	list := units.ErrorList{{File: "a.toml", Line: 1, Key: "kind", Msg: "required"}}
	for _, tc := range []struct {
		err  error
		want int
	}{
		{fmt.Errorf("x: %w", ErrNotFound), 404},
		{fmt.Errorf("x: %w", ErrInvalid), 400},
		{fmt.Errorf("unit: %w", list), 422},
		{&list, 422},
		{fmt.Errorf("labels: %w", errTooLarge), 413},
		{errors.New("boom"), 500},
	} {
		if got := errorStatus(tc.err); got != tc.want {
			t.Errorf("errorStatus(%v) = %d, want %d", tc.err, got, tc.want)
		}
	}
}
