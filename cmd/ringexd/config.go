package main

import (
	"fmt"
	"strconv"
	"strings"

	"github.com/ringex/ringex/engine"
	"github.com/ringex/ringex/pipeline"
)

// defaultAssets is the embedded asset list: prices in cents, quantities in
// units of the asset's smallest lot.
var defaultAssets = []string{
	"BTC-USD:id=1,tick=50,lot=1,min=50,max=100000000000,maxqty=100000000,pdec=2,qdec=4",
	"ETH-USD:id=2,tick=1,lot=10,min=1,max=10000000000,maxqty=100000000,pdec=2,qdec=3",
	"SOL-USD:id=3,tick=1,lot=1,min=1,max=1000000000,maxqty=100000000,pdec=3,qdec=2",
}

// assetList is a repeatable -asset flag.
type assetList []pipeline.AssetSpec

// decimals holds pdec and qdec per symbol, parsed with the assets.
var decimals = map[string][2]int{}

func (l *assetList) String() string {
	var parts []string
	for _, a := range *l {
		parts = append(parts, a.Config.Symbol)
	}
	return strings.Join(parts, ",")
}

func (l *assetList) Set(s string) error {
	spec, err := parseAsset(s)
	if err != nil {
		return err
	}
	*l = append(*l, spec)
	return nil
}

// parseAsset reads "SYMBOL:id=N,tick=N,lot=N,min=N,max=N,maxqty=N[,pdec=N,qdec=N]".
func parseAsset(s string) (pipeline.AssetSpec, error) {
	sym, rest, ok := strings.Cut(s, ":")
	if !ok || sym == "" || len(sym) > 8 {
		return pipeline.AssetSpec{}, fmt.Errorf("asset %q: want SYMBOL:id=N,tick=N,lot=N,min=N,max=N,maxqty=N (symbol 1-8 characters)", s)
	}
	spec := pipeline.AssetSpec{Config: engine.AssetConfig{Symbol: sym}}
	seen := map[string]bool{}
	for _, kv := range strings.Split(rest, ",") {
		k, v, ok := strings.Cut(kv, "=")
		if !ok {
			return spec, fmt.Errorf("asset %s: %q is not key=value", sym, kv)
		}
		n, err := strconv.ParseInt(v, 10, 64)
		if k == "pdec" || k == "qdec" {
			if err != nil || n < 0 || n > 18 {
				return spec, fmt.Errorf("asset %s: %s=%q: want 0-18", sym, k, v)
			}
			d := decimals[sym]
			if k == "pdec" {
				d[0] = int(n)
			} else {
				d[1] = int(n)
			}
			decimals[sym] = d
			continue
		}
		if err != nil || n <= 0 {
			return spec, fmt.Errorf("asset %s: %s=%q: want a positive integer", sym, k, v)
		}
		switch k {
		case "id":
			if n >= 1<<16 {
				return spec, fmt.Errorf("asset %s: id %d: must be below 65536", sym, n)
			}
			spec.ID = uint32(n)
		case "tick":
			spec.Config.TickSize = n
		case "lot":
			spec.Config.LotSize = n
		case "min":
			spec.Config.MinPrice = n
		case "max":
			spec.Config.MaxPrice = n
		case "maxqty":
			spec.Config.MaxQty = n
		default:
			return spec, fmt.Errorf("asset %s: unknown key %q", sym, k)
		}
		seen[k] = true
	}
	for _, k := range []string{"id", "tick", "lot", "min", "max", "maxqty"} {
		if !seen[k] {
			return spec, fmt.Errorf("asset %s: missing %s=", sym, k)
		}
	}
	c := spec.Config
	if c.MinPrice > c.MaxPrice || c.MinPrice%c.TickSize != 0 || c.MaxPrice%c.TickSize != 0 || c.MaxQty%c.LotSize != 0 {
		return spec, fmt.Errorf("asset %s: min and max must be multiples of tick with min <= max, maxqty a multiple of lot", sym)
	}
	return spec, nil
}

// cpuList reads the -pin flag: "journal=0,matcher=1,...".
func parseCPUs(s string) (pipeline.CPUs, error) {
	cpus := pipeline.NoPinning
	if s == "" {
		return cpus, nil
	}
	for _, kv := range strings.Split(s, ",") {
		k, v, ok := strings.Cut(kv, "=")
		n, err := strconv.Atoi(v)
		if !ok || err != nil || n < 0 {
			return cpus, fmt.Errorf("pin %q: want stage=cpu", kv)
		}
		switch k {
		case "journal":
			cpus.Journal = n
		case "matcher":
			cpus.Matcher = n
		case "acker":
			cpus.Acker = n
		case "events":
			cpus.EventJournal = n
		case "notifier":
			cpus.Notifier = n
		default:
			return cpus, fmt.Errorf("pin: unknown stage %q (journal, matcher, acker, events, notifier)", k)
		}
	}
	return cpus, nil
}
