package reports

import (
	"bufio"
	"fmt"
	"io"
	"math"
	"net/http"
	"time"

	vegeta "github.com/tsenart/vegeta/v12/lib"

	"github.com/keystorm/keystorm/harness/history"
)

// Vegeta writes every request of the run's history at historyPath as
// vegeta results in its JSON lines encoding, so that vegeta's own tools
// work on a keystorm run: `vegeta report`, `vegeta plot`, `vegeta encode`.
// base is the wall time the history's offsets count from (the result's
// Started).
//
// It streams: one event is read, converted and written at a time, so a
// soak's history never has to fit in memory. The mapping, chosen so that
// vegeta's numbers match keystorm's:
//
//   - Timestamp is base plus the intended send time and Latency runs from
//     there to the answer, as keystorm measures it (no coordinated
//     omission hidden by the load generator's own delay).
//   - Attack is the KMS operation, so `vegeta plot` draws one series per
//     operation.
//   - Code is the HTTP status, 0 when no usable answer came: none at all,
//     or one keystorm could not read (a 200 whose body does not decode).
//     keystorm counts both as the outcome "error", and vegeta counts any
//     2xx or 3xx code as a success whatever the Error says, so a 200 here
//     would make `vegeta report` count as a success what keystorm and
//     `vegeta plot` (which goes by Error) count as a failure.
//   - Error is the KMS exception name (not its message, which varies per
//     key and would flood vegeta's error set), keystorm's error (transport
//     failure, timeout, unreadable answer), or the status line of an HTTP
//     failure without an exception.
//   - BytesOut is the request's payload size and BytesIn the same size on
//     success: payload bytes, not wire bytes, which the history does not
//     keep.
//   - Method is POST, as every KMS call is; the history keeps no URL.
func Vegeta(w io.Writer, historyPath string, base time.Time) error {
	bw := bufio.NewWriterSize(w, 64<<10)
	enc := vegeta.NewJSONEncoder(bw)
	var res vegeta.Result
	err := history.Scan(historyPath, func(e history.Event) error {
		if e.Request == nil {
			return nil
		}
		vegetaResult(&res, e.Request, base)
		return enc.Encode(&res)
	})
	if err == nil {
		err = bw.Flush()
	}
	if err != nil {
		return fmt.Errorf("reports: vegeta: %w", err)
	}
	return nil
}

// vegetaResult fills res from req; res is reused between requests.
func vegetaResult(res *vegeta.Result, req *history.Request, base time.Time) {
	*res = vegeta.Result{
		Attack:    req.Op,
		Seq:       req.Seq,
		Code:      uint16(min(max(req.Status, 0), math.MaxUint16)),
		Timestamp: base.Add(req.Intended),
		Latency:   max(req.Latency(), 0),
		BytesOut:  uint64(max(req.Size, 0)),
		Method:    http.MethodPost,
	}
	switch {
	case req.Exception != "":
		res.Error = req.Exception
	case req.Error != "":
		res.Error, res.Code = req.Error, 0
	case req.Status == 0:
		res.Error = "no answer"
	case req.Status < 200 || req.Status >= 300:
		res.Error = fmt.Sprintf("%d %s", req.Status, http.StatusText(req.Status))
	default:
		res.BytesIn = res.BytesOut
	}
}
