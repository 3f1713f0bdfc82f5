package client

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"

	"github.com/ringex/ringex/adminapi"
)

// Asset is one entry of ringexd's asset list, served as JSON at
// http://<admin address>/assets. The schema lives in package adminapi,
// which the server builds its list from, so the two cannot drift apart.
type Asset = adminapi.Asset

// FetchAssets reads the asset list from the admin server at admin
// (host:port). ctx bounds the request.
func FetchAssets(ctx context.Context, admin string) ([]Asset, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, "http://"+admin+"/assets", nil)
	if err != nil {
		return nil, err
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return nil, fmt.Errorf("asset list: %w (is ringexd running with -admin %s?)", err, admin)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("asset list from %s: %s", admin, resp.Status)
	}
	var all []Asset
	if err := json.NewDecoder(resp.Body).Decode(&all); err != nil {
		return nil, fmt.Errorf("asset list from %s: %w", admin, err)
	}
	return all, nil
}
