package perf

import (
	"encoding/json"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"strconv"

	"gonum.org/v1/plot"
	"gonum.org/v1/plot/plotter"
	"gonum.org/v1/plot/plotutil"
	"gonum.org/v1/plot/vg"
)

// maxPlotX is where the plot's percentile axis ends: 99.9999%.
const maxPlotX = 1e6

// minPlotY is the bottom of the plot's latency axis, in microseconds: a
// log axis cannot reach 0, and lower values are drawn there.
const minPlotY = 0.1

// WriteOutputs writes into dir (creating it) one NAME.hgrm per non-empty
// distribution, latency.png with their latency-by-percentile curves and,
// if withJSON, summary.json.
func WriteOutputs(dir string, res *Result, lats []*Latency, withJSON bool) error {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return fmt.Errorf("perf: output directory: %w", err)
	}
	var lines []any
	for _, l := range lats {
		if l.Count() == 0 {
			continue
		}
		if err := writeHgrm(filepath.Join(dir, l.Name+".hgrm"), l); err != nil {
			return err
		}
		if l.Histogram().Max() > 0 { // all zeros (the send lag of a closed loop) has no place on a log axis
			lines = append(lines, l.Name, curve(l))
		}
	}
	if len(lines) > 0 {
		if err := plotCurves(filepath.Join(dir, "latency.png"), title(res), lines); err != nil {
			return err
		}
	}
	if withJSON {
		b, err := json.MarshalIndent(res, "", "  ")
		if err != nil {
			return fmt.Errorf("perf: summary: %w", err)
		}
		if err := os.WriteFile(filepath.Join(dir, "summary.json"), append(b, '\n'), 0o644); err != nil {
			return fmt.Errorf("perf: summary: %w", err)
		}
	}
	return nil
}

func writeHgrm(path string, l *Latency) error {
	f, err := os.Create(path)
	if err != nil {
		return fmt.Errorf("perf: %w", err)
	}
	if err := l.WriteHgrm(f); err != nil {
		f.Close()
		return fmt.Errorf("perf: %s: %w", path, err)
	}
	return f.Close()
}

func title(res *Result) string {
	if res == nil {
		return "ringex latency by percentile"
	}
	if res.Mode == "max-throughput" {
		return fmt.Sprintf("ringex latency by percentile (max throughput, depth %d, %.0f orders/s achieved)", res.Depth, res.Rate)
	}
	return fmt.Sprintf("ringex latency by percentile (open loop, %.0f orders/s)", res.TargetRate)
}

// curve is l's latency (us) against 1/(1-percentile), the x of an
// HdrHistogram percentile plot: 10 is the 90th percentile, 1000 the
// 99.9th. The last point, the maximum, is drawn at the x of the last
// percentile the sample size can resolve.
func curve(l *Latency) plotter.XYs {
	h := l.Histogram()
	var pts plotter.XYs
	lastX := 1.0
	for _, b := range h.CumulativeDistributionWithTicks(5) {
		q := b.Quantile / 100
		if q >= 1 {
			break
		}
		x := math.Min(1/(1-q), maxPlotX)
		pts = append(pts, plotter.XY{X: x, Y: math.Max(float64(b.ValueAt)/1000, minPlotY)})
		lastX = x
	}
	maxX := math.Max(lastX, math.Min(float64(h.TotalCount()), maxPlotX))
	pts = append(pts, plotter.XY{X: maxX, Y: math.Max(float64(h.Max())/1000, minPlotY)})
	return pts
}

func plotCurves(path, title string, lines []any) error {
	p := plot.New()
	p.Title.Text = title
	p.X.Label.Text = "percentile"
	p.Y.Label.Text = "latency (us, log scale)"
	p.X.Scale = plot.LogScale{}
	p.Y.Scale = plot.LogScale{}
	p.X.Tick.Marker = percentileTicks{}
	p.Y.Tick.Marker = oneTwoFiveTicks{}
	p.Add(plotter.NewGrid())
	// Bottom right: the curves rise to the right, so that corner is free.
	p.Legend.Top = false
	p.Legend.Left = false
	p.Legend.YOffs = vg.Points(10)
	if err := plotutil.AddLines(p, lines...); err != nil {
		return fmt.Errorf("perf: plot: %w", err)
	}
	p.X.Min = 1
	p.Y.Min = math.Max(p.Y.Min, minPlotY) // a log axis cannot reach 0
	if err := p.Save(9*vg.Inch, 5*vg.Inch, path); err != nil {
		return fmt.Errorf("perf: plot: %w", err)
	}
	return nil
}

// percentileTicks labels a 1/(1-p) axis with percentiles.
type percentileTicks struct{}

func (percentileTicks) Ticks(min, max float64) []plot.Tick {
	var ticks []plot.Tick
	labels := []string{"0%", "90%", "99%", "99.9%", "99.99%", "99.999%", "99.9999%"}
	for i, x := 0, 1.0; i < len(labels); i, x = i+1, x*10 {
		if x >= min && x <= max*1.0001 {
			ticks = append(ticks, plot.Tick{Value: x, Label: labels[i]})
		}
		if x*5 >= min && x*5 <= max {
			ticks = append(ticks, plot.Tick{Value: x * 5}) // minor
		}
	}
	return ticks
}

// oneTwoFiveTicks labels a log axis at 1, 2, 5 times the powers of ten,
// so that even a range within one decade has labels.
type oneTwoFiveTicks struct{}

func (oneTwoFiveTicks) Ticks(min, max float64) []plot.Tick {
	var ticks []plot.Tick
	if min <= 0 {
		min = 0.1
	}
	for d := math.Pow(10, math.Floor(math.Log10(min))); d <= max; d *= 10 {
		for _, m := range []float64{1, 2, 5} {
			v := d * m
			if v >= min && v <= max {
				ticks = append(ticks, plot.Tick{Value: v, Label: strconv.FormatFloat(v, 'g', -1, 64)})
			}
		}
	}
	return ticks
}
