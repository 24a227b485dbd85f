package supervisor

import (
	"context"
	"net/url"
)

// What the tests in package supervisor_test (outside the package, since
// supervisor/mock imports it) need of its unexported code.

// ApplyLabels is applyLabels, so that the API tests' fake applies the
// agent's label rules.
var ApplyLabels = applyLabels

// Do is Client.do, for the API tests' requests that no Client method makes.
func (c *Client) Do(ctx context.Context, method, path string, q url.Values, in, out any) error {
	return c.do(ctx, method, path, q, in, out)
}
