// Package cloudhsmapi serves the CloudHSM control plane of fakes/cloudhsm
// over the real CloudHSM v2 wire protocol (AWS JSON 1.1, BaldrApiService.*,
// SigV4 with signing name cloudhsm): the operations the recovery procedures
// need.
package cloudhsmapi

import (
	"context"
	"encoding/base64"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"

	"github.com/keystorm/keystorm/fakes/awsjson"
	"github.com/keystorm/keystorm/fakes/cloudhsm"
)

// Exception names of the CloudHSM v2 model.
const (
	resourceNotFound = "CloudHsmResourceNotFoundException"
	invalidRequest   = "CloudHsmInvalidRequestException"
)

// New returns the HTTP handler of the CloudHSM v2 API over p.
func New(p *cloudhsm.Plane, opts ...awsjson.Option) *awsjson.Service {
	api := awsjson.NewService(awsjson.CloudHSMModel(), opts...)
	a := &handlers{plane: p}
	handle(api, "DescribeClusters", a.describeClusters)
	handle(api, "CreateCluster", a.createCluster)
	handle(api, "DeleteCluster", a.deleteCluster)
	handle(api, "CreateHsm", a.createHsm)
	handle(api, "DeleteHsm", a.deleteHsm)
	handle(api, "DescribeBackups", a.describeBackups)
	return api
}

func handle[In any](api *awsjson.Service, op string, fn func(context.Context, In) (any, error)) {
	api.Handle(op, awsjson.Typed(func(ctx context.Context, in In) (any, error) {
		out, err := fn(ctx, in)
		if err != nil {
			return nil, wireError(err)
		}
		return out, nil
	}))
}

// wireError maps the plane's errors to the API's exceptions.
func wireError(err error) error {
	var e *awsjson.Error
	switch {
	case errors.As(err, &e):
		return e
	case errors.Is(err, cloudhsm.ErrNotFound):
		return awsjson.NewError(resourceNotFound, err.Error())
	case errors.Is(err, cloudhsm.ErrInvalidRequest), errors.Is(err, cloudhsm.ErrNoFreeAddress):
		return awsjson.NewError(invalidRequest, err.Error())
	}
	return err
}

type handlers struct{ plane *cloudhsm.Plane }

// Cluster is the API's Cluster shape.
type Cluster struct {
	BackupPolicy    string            `json:"BackupPolicy"`
	ClusterId       string            `json:"ClusterId"`
	CreateTimestamp awsjson.Timestamp `json:"CreateTimestamp"`
	Hsms            []Hsm             `json:"Hsms"`
	HsmType         string            `json:"HsmType"`
	PreCoPassword   string            `json:"PreCoPassword,omitempty"`
	SecurityGroup   string            `json:"SecurityGroup"`
	SourceBackupId  string            `json:"SourceBackupId,omitempty"`
	State           string            `json:"State"`
	StateMessage    string            `json:"StateMessage,omitempty"`
	SubnetMapping   map[string]string `json:"SubnetMapping"`
	VpcId           string            `json:"VpcId"`
	NetworkType     string            `json:"NetworkType"`
	Certificates    map[string]string `json:"Certificates,omitempty"`
	Mode            string            `json:"Mode"`
}

// Hsm is the API's Hsm shape.
type Hsm struct {
	AvailabilityZone string `json:"AvailabilityZone"`
	ClusterId        string `json:"ClusterId"`
	SubnetId         string `json:"SubnetId"`
	EniId            string `json:"EniId"`
	EniIp            string `json:"EniIp"`
	HsmId            string `json:"HsmId"`
	State            string `json:"State"`
	StateMessage     string `json:"StateMessage,omitempty"`
}

func clusterShape(info cloudhsm.ClusterInfo) Cluster {
	c := Cluster{
		BackupPolicy: "DEFAULT", ClusterId: info.ID, CreateTimestamp: awsjson.Timestamp(info.Created),
		Hsms: []Hsm{}, HsmType: info.HsmType, PreCoPassword: info.PreCoPassword, SecurityGroup: info.SecurityGroup,
		SourceBackupId: info.SourceBackupID, State: string(info.State), SubnetMapping: info.SubnetMapping,
		VpcId: info.VpcID, NetworkType: "IPV4", Mode: "FIPS",
	}
	if info.State != cloudhsm.ClusterUninitialized && info.ClusterPEM != "" {
		c.Certificates = map[string]string{"ClusterCertificate": info.ClusterPEM}
	}
	if info.State == cloudhsm.ClusterUninitialized {
		c.StateMessage = "The cluster is not initialized."
	}
	for _, h := range info.HSMs {
		c.Hsms = append(c.Hsms, hsmShape(h))
	}
	return c
}

func hsmShape(h cloudhsm.HSMInfo) Hsm {
	return Hsm{AvailabilityZone: h.AZ, ClusterId: h.ClusterID, SubnetId: h.SubnetID, EniId: h.EniID, EniIp: h.EniIP, HsmId: h.ID, State: h.State}
}

type describeClustersInput struct {
	Filters    map[string][]string `json:"Filters"`
	NextToken  string              `json:"NextToken"`
	MaxResults int                 `json:"MaxResults"`
}

type describeClustersOutput struct {
	Clusters  []Cluster `json:"Clusters"`
	NextToken string    `json:"NextToken,omitempty"`
}

func (a *handlers) describeClusters(_ context.Context, in describeClustersInput) (any, error) {
	for f := range in.Filters {
		switch f {
		case "clusterIds", "vpcIds", "states":
		default:
			return nil, awsjson.Errorf(invalidRequest, "Unsupported filter %q: use clusterIds, vpcIds or states.", f)
		}
	}
	var all []Cluster
	for _, c := range a.plane.Clusters() {
		info := c.Info()
		if !match(in.Filters["clusterIds"], info.ID) || !match(in.Filters["vpcIds"], info.VpcID) || !match(in.Filters["states"], string(info.State)) {
			continue
		}
		all = append(all, clusterShape(info))
	}
	from, to, next, err := pageOf(len(all), in.MaxResults, 25, in.NextToken)
	if err != nil {
		return nil, err
	}
	return describeClustersOutput{Clusters: append([]Cluster{}, all[from:to]...), NextToken: next}, nil
}

// match reports whether v is in a filter's values, or the filter is empty.
func match(set []string, v string) bool {
	return len(set) == 0 || slices.Contains(set, v)
}

// pageOf returns the slice bounds of one page of n items: the token is the
// offset of the page, so it stays valid while the list only grows.
func pageOf(n, max, defaultMax int, token string) (from, to int, next string, err error) {
	if max <= 0 {
		max = defaultMax
	}
	if token != "" {
		raw, derr := base64.RawURLEncoding.DecodeString(token)
		off, perr := strconv.Atoi(string(raw))
		if derr != nil || perr != nil || off < 0 || off > n {
			return 0, 0, "", awsjson.Errorf(invalidRequest, "The NextToken %q is not valid.", token)
		}
		from = off
	}
	to = min(from+max, n)
	if to < n {
		next = base64.RawURLEncoding.EncodeToString([]byte(strconv.Itoa(to)))
	}
	return from, to, next, nil
}

type createClusterInput struct {
	HsmType        string   `json:"HsmType"`
	SubnetIds      []string `json:"SubnetIds"`
	SourceBackupId string   `json:"SourceBackupId"`
}

type clusterOutput struct {
	Cluster Cluster `json:"Cluster"`
}

func (a *handlers) createCluster(ctx context.Context, in createClusterInput) (any, error) {
	backup := in.SourceBackupId
	if i := strings.LastIndex(backup, "backup/"); i >= 0 { // a backup ARN
		backup = backup[i+len("backup/"):]
	}
	c, err := a.plane.CreateCluster(ctx, in.HsmType, in.SubnetIds, backup)
	if err != nil {
		return nil, err
	}
	return clusterOutput{Cluster: clusterShape(c.Info())}, nil
}

type clusterIDInput struct {
	ClusterId string `json:"ClusterId"`
}

func (a *handlers) deleteCluster(_ context.Context, in clusterIDInput) (any, error) {
	c, err := a.plane.DeleteCluster(in.ClusterId)
	if err != nil {
		return nil, err
	}
	return clusterOutput{Cluster: clusterShape(c.Info())}, nil
}

type createHsmInput struct {
	ClusterId        string `json:"ClusterId"`
	AvailabilityZone string `json:"AvailabilityZone"`
	IpAddress        string `json:"IpAddress"`
}

func (a *handlers) createHsm(ctx context.Context, in createHsmInput) (any, error) {
	h, err := a.plane.CreateHsm(ctx, in.ClusterId, in.AvailabilityZone, in.IpAddress)
	if err != nil {
		return nil, err
	}
	return struct {
		Hsm Hsm `json:"Hsm"`
	}{hsmShape(h.Info())}, nil
}

type deleteHsmInput struct {
	ClusterId string `json:"ClusterId"`
	HsmId     string `json:"HsmId"`
	EniId     string `json:"EniId"`
	EniIp     string `json:"EniIp"`
}

func (a *handlers) deleteHsm(ctx context.Context, in deleteHsmInput) (any, error) {
	id, err := a.plane.DeleteHsm(ctx, in.ClusterId, in.HsmId, in.EniId, in.EniIp)
	if err != nil {
		return nil, err
	}
	return struct {
		HsmId string `json:"HsmId"`
	}{id}, nil
}

type describeBackupsInput struct {
	Filters       map[string][]string `json:"Filters"`
	NextToken     string              `json:"NextToken"`
	MaxResults    int                 `json:"MaxResults"`
	SortAscending bool                `json:"SortAscending"`
}

// Backup is the API's Backup shape.
type Backup struct {
	BackupId        string            `json:"BackupId"`
	BackupArn       string            `json:"BackupArn"`
	BackupState     string            `json:"BackupState"`
	ClusterId       string            `json:"ClusterId"`
	CreateTimestamp awsjson.Timestamp `json:"CreateTimestamp"`
	HsmType         string            `json:"HsmType"`
	Mode            string            `json:"Mode"`
	NeverExpires    bool              `json:"NeverExpires"`
}

func (a *handlers) describeBackups(_ context.Context, in describeBackupsInput) (any, error) {
	var f cloudhsm.BackupFilter
	for name, vals := range in.Filters {
		switch name {
		case "backupIds":
			f.BackupIDs = vals
		case "clusterIds":
			f.ClusterIDs = vals
		case "states":
			for _, v := range vals {
				f.States = append(f.States, cloudhsm.BackupState(v))
			}
		default:
			return nil, awsjson.Errorf(invalidRequest, "Unsupported filter %q: use backupIds, clusterIds or states.", name)
		}
	}
	all := a.plane.Backups(f, in.SortAscending)
	from, to, next, err := pageOf(len(all), in.MaxResults, 50, in.NextToken)
	if err != nil {
		return nil, err
	}
	out := struct {
		Backups   []Backup `json:"Backups"`
		NextToken string   `json:"NextToken,omitempty"`
	}{Backups: []Backup{}, NextToken: next}
	for _, b := range all[from:to] {
		out.Backups = append(out.Backups, Backup{
			BackupId: b.ID, BackupArn: fmt.Sprintf("arn:aws:cloudhsm:%s:%s:backup/%s", a.plane.Region(), a.plane.Account(), b.ID),
			BackupState: string(b.State), ClusterId: b.ClusterID, CreateTimestamp: awsjson.Timestamp(b.Created),
			HsmType: b.HsmType, Mode: "FIPS",
		})
	}
	return out, nil
}
