// The API reference: Swagger UI (self-hosted, app/static/vendor) over our
// generated OpenAPI document. Its URL comes from the page, not from code here.
document.addEventListener("DOMContentLoaded", () => {
  const root = document.getElementById("api-reference");
  window.SwaggerUIBundle({
    url: root.dataset.specUrl,
    domNode: root,
    deepLinking: true,
    // No "Try it out" calls to other servers, and no validator badge from swagger.io.
    validatorUrl: null,
  });
});
