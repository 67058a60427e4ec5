package awsjson

import (
	"encoding/json"
	"fmt"
	"math"
	"strconv"
	"time"
)

// A Timestamp is a time on the AWS JSON wire: epoch seconds as a JSON number with up to
// millisecond precision (1700000000.123), which is how KMS and CloudHSM v2 send
// CreationDate and friends and what every SDK parses. Use it in handler result structs.
type Timestamp time.Time

// Time returns t as a time.Time.
func (t Timestamp) Time() time.Time { return time.Time(t) }

// MarshalJSON writes epoch seconds, dropping precision below a millisecond and any
// trailing zeros ("1700000000", "1700000000.5").
func (t Timestamp) MarshalJSON() ([]byte, error) {
	ms := time.Time(t).UnixMilli()
	sign := ""
	if ms < 0 { // before 1970: -0.75, not -1.25
		sign, ms = "-", -ms
	}
	sec, frac := ms/1000, ms%1000
	if frac == 0 {
		return []byte(sign + strconv.FormatInt(sec, 10)), nil
	}
	s := sign + strconv.FormatInt(sec, 10) + "." + fmt.Sprintf("%03d", frac)
	for s[len(s)-1] == '0' {
		s = s[:len(s)-1]
	}
	return []byte(s), nil
}

// UnmarshalJSON reads epoch seconds, so handlers can decode timestamps of requests too.
func (t *Timestamp) UnmarshalJSON(b []byte) error {
	if string(b) == "null" {
		return nil // the encoding/json convention: null leaves the value alone
	}
	var n json.Number
	if err := json.Unmarshal(b, &n); err != nil {
		return fmt.Errorf("timestamp: %w", err)
	}
	f, err := n.Float64()
	if err != nil || math.IsInf(f, 0) || math.IsNaN(f) {
		return fmt.Errorf("timestamp: %q is not epoch seconds", string(b))
	}
	sec, frac := math.Modf(f)
	*t = Timestamp(time.Unix(int64(sec), int64(math.Round(frac*1e3))*int64(time.Millisecond)).UTC())
	return nil
}
