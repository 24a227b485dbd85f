package mock_test

import (
	"testing"

	"github.com/tendhq/tend/supervisor/mock"
)

func TestUnsetMethodPanicsNamingIt(t *testing.T) {
	defer func() {
		if r := recover(); r != "mock.Backend.ScaleUnit called, but ScaleUnitFn is not set" {
			t.Errorf("recovered %v", r)
		}
	}()
	new(mock.Backend).ScaleUnit("kubia", 3)
}
