package main

// The end-to-end tests drive a real agent through the CLI with the
// harness of internal/e2e; their workloads are this test binary.

import (
	"testing"

	"github.com/tendhq/tend/internal/e2e"
)

func TestMain(m *testing.M) { e2e.Main(m) }
