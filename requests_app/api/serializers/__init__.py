"""Input serializers validate request bodies (unknown fields refused); output serializers
shape responses. Neither writes: views hand validated data to the domain services."""
