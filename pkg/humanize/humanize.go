// Package humanize writes sizes as etcd's tools and logs do, which use
// github.com/dustin/go-humanize: SI units ("8.2 kB", "25 MB") with the
// same floating-point steps, so that a value at a rounding boundary comes
// out the same.
package humanize

import (
	"fmt"
	"math"
)

// Bytes is n bytes as go-humanize's Bytes writes it.
func Bytes(n uint64) string {
	if n < 10 {
		return fmt.Sprintf("%d B", n)
	}
	units := []string{"B", "kB", "MB", "GB", "TB", "PB", "EB"}
	e := math.Floor(math.Log(float64(n)) / math.Log(1000))
	val := math.Floor(float64(n)/math.Pow(1000, e)*10+0.5) / 10
	if val < 10 {
		return fmt.Sprintf("%.1f %s", val, units[int(e)])
	}
	return fmt.Sprintf("%.0f %s", val, units[int(e)])
}
