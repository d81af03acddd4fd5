module github.com/courier-go/courier/rabbitmq

go 1.26.0

require (
	github.com/courier-go/courier v0.0.0-00010101000000-000000000000
	github.com/rabbitmq/amqp091-go v1.16.0
)

require (
	github.com/google/uuid v1.6.0 // indirect
	go.uber.org/goleak v1.3.0 // indirect
)

replace github.com/courier-go/courier => ..
