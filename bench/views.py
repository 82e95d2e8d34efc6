"""The floor of HTTP benchmarks: a DRF view with the API's authentication and nothing else."""

from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView


class BareView(APIView):
    """Same authentication, permission class, renderer and middleware as the API; no work."""

    def get(self, request: Request) -> Response:
        return Response({"ok": True, "user": request.user.get_username()})
