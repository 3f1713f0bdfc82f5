package client

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
)

// Asset is one entry of ringexd's asset list, served as JSON at
// http://<admin address>/assets: what a client needs to turn human prices
// and quantities into the integer ticks and lots of the wire, and to stay
// inside the asset's bands. The server builds its list from this type, so
// the two cannot drift apart.
type Asset struct {
	ID       uint32 `json:"id"`
	Symbol   string `json:"symbol"`
	TickSize int64  `json:"tick_size"`
	LotSize  int64  `json:"lot_size"`
	MinPrice int64  `json:"min_price"`
	MaxPrice int64  `json:"max_price"`
	MaxQty   int64  `json:"max_qty"`
	// PriceDecimals and QtyDecimals say how many of the integer's digits
	// are decimals, for display: 650005 with 2 is 6500.05. The engine never
	// sees them.
	PriceDecimals int `json:"price_decimals"`
	QtyDecimals   int `json:"qty_decimals"`
}

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
