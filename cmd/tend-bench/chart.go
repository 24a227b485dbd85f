package main

// The chart of the headline ratios: an SVG written by hand, one bar per
// (measurement, peer) from 1 to tend/peer on a log scale, so "100 times
// better" and "100 times worse" are bars of the same length.

import (
	"fmt"
	"html"
	"io"
	"math"
	"strings"
)

const (
	chartWidth = 820
	chartLabel = 290 // left column: the row's label
	chartRight = 70  // right margin: the value
	chartRow   = 20
	chartTop   = 48
	chartGap   = 10 // between measurements
)

// writeChart draws the ratios of the headline metrics. Rows whose ratio is
// missing are listed as "n/a" without a bar.
func writeChart(w io.Writer, ms []metric, rs []ratio) error {
	type row struct {
		label string
		value *float64
		note  string
		first bool // first row of its measurement
	}
	var rows []row
	lo, hi := 1.0, 1.0
	for _, m := range ms {
		if !m.Headline {
			continue
		}
		first := true
		for _, r := range rs {
			if r.Metric != m.ID {
				continue
			}
			rows = append(rows, row{label: fmt.Sprintf("%s vs %s", m.Title, r.Peer), value: r.Value, note: r.Note, first: first})
			first = false
			if r.Value != nil && *r.Value > 0 {
				lo, hi = math.Min(lo, *r.Value), math.Max(hi, *r.Value)
			}
		}
	}
	// Whole decades, at least one each side of 1.
	dlo := math.Min(math.Floor(math.Log10(lo)), -1)
	dhi := math.Max(math.Ceil(math.Log10(hi)), 1)
	plot := float64(chartWidth - chartLabel - chartRight)
	x := func(v float64) float64 {
		return chartLabel + (math.Log10(v)-dlo)/(dhi-dlo)*plot
	}
	groups := 0
	for _, r := range rows {
		if r.first {
			groups++
		}
	}
	height := chartTop + len(rows)*chartRow + groups*chartGap + 40

	var b strings.Builder
	fmt.Fprintf(&b, `<svg xmlns="http://www.w3.org/2000/svg" width="%d" height="%d" viewBox="0 0 %d %d" font-family="sans-serif" font-size="12">`+"\n", chartWidth, height, chartWidth, height)
	fmt.Fprintf(&b, `<rect width="100%%" height="100%%" fill="white"/>`+"\n")
	fmt.Fprintf(&b, `<text x="10" y="20" font-size="14" font-weight="bold">tend's figure over each peer's (log scale; left of 1: tend is better)</text>`+"\n")
	bottom := height - 30
	for d := dlo; d <= dhi; d++ {
		xv := x(math.Pow(10, d))
		stroke := "#ddd"
		if d == 0 {
			stroke = "#333"
		}
		fmt.Fprintf(&b, `<line x1="%.1f" y1="%d" x2="%.1f" y2="%d" stroke="%s"/>`+"\n", xv, chartTop-8, xv, bottom, stroke)
		fmt.Fprintf(&b, `<text x="%.1f" y="%d" text-anchor="middle" fill="#555">%s</text>`+"\n", xv, bottom+14, decade(d))
	}
	y := chartTop
	for _, r := range rows {
		if r.first && y > chartTop {
			y += chartGap
		}
		fmt.Fprintf(&b, `<text x="%d" y="%d" text-anchor="end">%s</text>`+"\n", chartLabel-8, y+14, html.EscapeString(r.label))
		if r.value == nil || *r.value <= 0 {
			text := "n/a"
			switch {
			case r.value != nil:
				text = "0 (tend used none)"
			case r.note != "":
				text = "n/a (" + r.note + ")"
			}
			fmt.Fprintf(&b, `<text x="%.1f" y="%d" fill="#777">%s</text>`+"\n", x(1)+4, y+14, text)
			y += chartRow
			continue
		}
		x0, x1 := x(1), x(*r.value)
		colour := "#2a9d4b" // tend better
		if *r.value > 1 {
			colour = "#d1495b"
		}
		left, width := math.Min(x0, x1), math.Max(math.Abs(x1-x0), 1)
		fmt.Fprintf(&b, `<rect x="%.1f" y="%d" width="%.1f" height="%d" fill="%s"/>`+"\n", left, y+3, width, chartRow-6, colour)
		fmt.Fprintf(&b, `<text x="%d" y="%d">%s</text>`+"\n", chartWidth-chartRight+6, y+14, html.EscapeString(fmtRatio(*r.value)))
		y += chartRow
	}
	fmt.Fprintf(&b, "</svg>\n")
	_, err := io.WriteString(w, b.String())
	return err
}

// decade labels 10^d compactly: 0.001, 0.01, 0.1, 1, 10, 100, 1000, 1e4.
func decade(d float64) string {
	switch {
	case d >= -3 && d < 0:
		return strings.TrimRight(fmt.Sprintf("%.*f", int(-d), math.Pow(10, d)), "0")
	case d >= 0 && d <= 3:
		return fmt.Sprintf("%.0f", math.Pow(10, d))
	default:
		return fmt.Sprintf("1e%d", int(d))
	}
}
