module github.com/courier-go/courier/cqrs/protomarshal

go 1.26.0

require (
	github.com/courier-go/courier v0.0.0-00010101000000-000000000000
	go.uber.org/goleak v1.3.0
	google.golang.org/protobuf v1.36.8
)

require go.yaml.in/yaml/v3 v3.0.6 // indirect

replace github.com/courier-go/courier => ../..
