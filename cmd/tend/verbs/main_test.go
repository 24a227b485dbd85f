// Package verbs tests the CLI's day-to-day verbs end to end, each against
// an agent of its own: wait, stop and start, rollout, completion, the
// metrics, the journal and import. They are a package apart from cmd/tend, and
// run in parallel, because they mostly wait on agents: so they take the
// machine's time beside cmd/tend's tests rather than after them.
package verbs

import (
	"testing"

	"github.com/tendhq/tend/internal/e2e"
)

func TestMain(m *testing.M) { e2e.Main(m) }
