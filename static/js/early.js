// Runs before the first paint: lets the CSS hide the no-JavaScript controls without a flash.
document.documentElement.classList.add("js");
