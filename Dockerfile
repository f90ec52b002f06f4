# One image, two entry points: `serve` (webhook receiver) and `worker` (RQ worker + timers).
FROM python:3.11-slim AS build
WORKDIR /src
COPY pyproject.toml README.md ./
COPY plugin ./plugin
COPY connectors ./connectors
COPY rules ./rules
RUN pip wheel --no-cache-dir --wheel-dir /wheels .

FROM python:3.11-slim
RUN useradd --create-home --uid 10001 escalator
COPY --from=build /wheels /wheels
RUN pip install --no-cache-dir /wheels/*.whl && rm -rf /wheels
USER escalator
WORKDIR /home/escalator
ENV PYTHONUNBUFFERED=1
EXPOSE 8000
ENTRYPOINT ["escalator"]
CMD ["serve", "--host", "0.0.0.0", "--port", "8000"]
