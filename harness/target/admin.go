package target

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
)

// AdminClient calls a stack's admin API (fakes/admin documents it).
type AdminClient struct {
	Endpoint string
	Token    string
	HTTP     *http.Client
}

// AdminError is an answer of the admin API other than 200.
type AdminError struct {
	Path    string
	Status  int
	Message string
}

func (e *AdminError) Error() string {
	return fmt.Sprintf("admin %s: %d: %s", e.Path, e.Status, e.Message)
}

// Post sends in as JSON to path (such as "/v1/network") and decodes the
// answer into out, if out is not nil.
func (c *AdminClient) Post(ctx context.Context, path string, in, out any) error {
	body, err := json.Marshal(in)
	if err != nil {
		return fmt.Errorf("admin %s: %w", path, err)
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, c.Endpoint+path, bytes.NewReader(body))
	if err != nil {
		return fmt.Errorf("admin %s: %w", path, err)
	}
	req.Header.Set("Content-Type", "application/json")
	return c.do(req, path, out)
}

// Get fetches path and decodes the answer into out.
func (c *AdminClient) Get(ctx context.Context, path string, out any) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, c.Endpoint+path, nil)
	if err != nil {
		return fmt.Errorf("admin %s: %w", path, err)
	}
	return c.do(req, path, out)
}

func (c *AdminClient) do(req *http.Request, path string, out any) error {
	req.Header.Set("Authorization", "Bearer "+c.Token)
	resp, err := c.HTTP.Do(req)
	if err != nil {
		return fmt.Errorf("admin %s: %w", path, err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	if err != nil {
		return fmt.Errorf("admin %s: %w", path, err)
	}
	if resp.StatusCode != http.StatusOK {
		var e struct {
			Error string `json:"error"`
		}
		json.Unmarshal(b, &e)
		if e.Error == "" {
			e.Error = string(b)
		}
		return &AdminError{Path: path, Status: resp.StatusCode, Message: e.Error}
	}
	if out == nil {
		return nil
	}
	if err := json.Unmarshal(b, out); err != nil {
		return fmt.Errorf("admin %s: answer: %w", path, err)
	}
	return nil
}
